// The reactions worker (issue 3).
