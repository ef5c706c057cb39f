// The log watcher (issue 4).
