/* assets: the web page's files, compiled into miz-dashboard (embed.cmake
 * writes the array from clients/dashboard/web/). */
#ifndef MIZ_ASSETS_H
#define MIZ_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *name; /* "index.html", "app.js", ... */
    const unsigned char *data;
    size_t size;
} asset_t;

/* Ends with an entry whose name is NULL. */
extern const asset_t assets[];

#endif
