/* packed: a msgpack packer over a buffer of its own, for the wire tests. */
#ifndef MIZ_TEST_PACKED_H
#define MIZ_TEST_PACKED_H

#include <msgpack.h>

struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static inline void packed_init(struct packed *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

#endif
