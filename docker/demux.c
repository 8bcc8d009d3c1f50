/* SPDX-License-Identifier: MIT */
/* The engine's multiplexed stream (stdcopy): 8-byte headers {type, 0, 0, 0, be32 length} + payload. */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/io.h"
#include "docker/docker.h"

void tf_docker_demux_init(struct tf_docker_demux *m, int out_fd, int err_fd) {
        *m = (struct tf_docker_demux){.fd = {-1, out_fd, err_fd}};
}

int tf_docker_demux_feed(struct tf_docker_demux *m, const void *buf, size_t len, tf_error **err) {
        const uint8_t *p = buf;
        while (len > 0) {
                if (m->remaining == 0) {
                        size_t take = sizeof(m->hdr) - m->hdr_len;
                        if (take > len)
                                take = len;
                        memcpy(m->hdr + m->hdr_len, p, take);
                        m->hdr_len += take;
                        p += take;
                        len -= take;
                        if (m->hdr_len < sizeof(m->hdr))
                                return 0;
                        m->hdr_len = 0;
                        if (m->hdr[0] > 2)
                                return tf_error_set(err, EBADMSG,
                                                    "attach stream: frame of unknown stream type %u (is the "
                                                    "container running with a TTY?)",
                                                    m->hdr[0]);
                        m->stream = m->hdr[0];
                        m->remaining = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 |
                                       (uint32_t)m->hdr[6] << 8 | (uint32_t)m->hdr[7];
                        continue;
                }
                size_t take = m->remaining < len ? m->remaining : len;
                int fd = m->fd[m->stream];
                if (m->sink) {
                        int r = m->sink(m->sink_userdata, m->stream, p, take, err);
                        if (r < 0)
                                return r;
                } else if (fd >= 0) {
                        int r = tf_write_all(fd, p, take);
                        if (r < 0)
                                return tf_error_setc(err, r, "attach stream: write %s",
                                                     m->stream == 2 ? "stderr" : "stdout");
                }
                m->bytes[m->stream] += take;
                m->remaining -= (uint32_t)take;
                p += take;
                len -= take;
        }
        return 0;
}

int tf_docker_demux_end(const struct tf_docker_demux *m, tf_error **err) {
        if (m->remaining > 0 || m->hdr_len > 0)
                return tf_error_set(err, EBADMSG, "attach stream: ended inside a frame (%u bytes missing)",
                                    m->remaining ? m->remaining : (unsigned)(8 - m->hdr_len));
        return 0;
}
