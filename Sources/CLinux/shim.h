// Linux-only system headers that Glibc's Swift module does not export.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>

// accept4 is a GNU extension hidden without _GNU_SOURCE; glibc always provides it.
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

// pipe2 is also a GNU extension.
extern int pipe2(int pipefd[2], int flags);

// memmem is a GNU extension too.
#include <stddef.h>
extern void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);

#include <sys/inotify.h>
