/* httpd: what miz's HTTP programs (miz-dashboard, miz-open311) share on
 * libevent's evhttp: binding and learning the port the kernel picked, a
 * reply that a HEAD request gets right, and comparing a secret. */
#ifndef MIZ_HTTPD_H
#define MIZ_HTTPD_H

#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

/* Binds http to addr:port (0: a free one, in *bound). 0, or -1 said on
 * stderr after "prog: ". */
int httpd_bind(struct evhttp *http, const char *prog, const char *addr, unsigned short port,
               unsigned short *bound);
/* Sends the reply: to a HEAD request, its headers with the Content-Length
 * of body and no body (evhttp 2.1 sends the body and no length, which
 * leaves a kept-alive client reading the body as its next reply). body
 * may be NULL; the caller frees it. */
void httpd_send(struct evhttp_request *req, int code, const char *reason, struct evbuffer *body);
/* a[0..an) equals b, compared in a time that does not depend on where they differ. */
bool httpd_same_secret(const char *a, size_t an, const char *b);

#endif
