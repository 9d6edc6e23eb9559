/* httpd: see httpd.h. Kept apart so that the dashboard and the Open311
 * gateway bind, answer HEAD and compare their tokens and keys alike. */
#include "httpd.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int httpd_bind(struct evhttp *http, const char *prog, const char *addr, unsigned short port,
               unsigned short *bound)
{
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, addr, port);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!sock || getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len) < 0) {
        fprintf(stderr, "%s: cannot listen on %s:%u\n", prog, addr, port);
        return -1;
    }
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

void httpd_send(struct evhttp_request *req, int code, const char *reason, struct evbuffer *body)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evhttp_send_reply(req, code, reason, body);
        return;
    }
    char length[24];
    snprintf(length, sizeof length, "%zu", body ? evbuffer_get_length(body) : 0);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", length);
    evhttp_send_reply(req, code, reason, NULL);
}

bool httpd_same_secret(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    unsigned char diff = an != bn;
    for (size_t i = 0; i < an && i < bn; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
