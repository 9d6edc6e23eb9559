/* render_int: what render.c (JSON, Prometheus) and report.c (the weekly
 * report, HTML and CSV) share, and no one else: the figures are said the
 * same way in each, an agency named and its rates rounded alike. */
#ifndef MIZ_RENDER_INT_H
#define MIZ_RENDER_INT_H

#include "render.h"

/* An agency's Persian and English names; its id when the table has none. */
const char *render_name_fa(const render_names_t *names, const char *id);
const char *render_name_en(const render_names_t *names, const char *id);
/* The on-time share in tenths of a percent, or -1 when nothing counted. */
int render_on_time_permille(const fig_agency_t *a);
/* The 4-week daily mean in hundredths, rounded. */
uint64_t render_avg_hundredths(const fig_agency_t *a);
/* "1404-W32", the Iranian week holding day ("?" if none). */
void render_week_name(char *buf, size_t size, int day);

#endif
