/* sim/plot.h — miss ratio curves as a PNG (through cairo, when built in).
 *
 * Concepts: a figure holds one panel per trace; a panel holds one series
 * per policy, each a polyline of (x, y) points in a colour and marker
 * chosen by its style number (so a policy keeps its look across plots).
 * Every panel has the same series; one legend on the right names them. A
 * dashed series (OPT, the bound) is drawn in black. Axes start at 0
 * and end at a round number above the largest value.
 */
#ifndef POOLVM_SIM_PLOT_H
#define POOLVM_SIM_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "trace.h"

struct sim_plot_point {
	double x;
	double y;
};

struct sim_plot_series {
	const char *label;
	unsigned style;                         /* colour and marker */
	bool dashed;
	const struct sim_plot_point *points;    /* sorted by x */
	size_t count;
};

struct sim_plot_panel {
	const char *title;
	const char *x_label;
	const char *y_label;
	const struct sim_plot_series *series;
	size_t count;
};

/** sim_plot_available() - whether this build can draw PNGs. */
bool sim_plot_available(void);

/**
 * sim_plot_png() - draw @count panels into the PNG file @path.
 * Return: 0; -ENOTSUP in a build without cairo; -EIO or -ENOMEM with @err
 * filled ("cannot write plot.png: ...").
 */
int sim_plot_png(const char *path, const struct sim_plot_panel *panels, size_t count,
		 char err[SIM_TRACE_ERR_LEN]);

/**
 * sim_plot_release_caches() - free the font and surface caches cairo and
 * fontconfig keep for the life of the process, so that a leak checker sees
 * none. Only when no plot is being drawn, in a process that is done
 * plotting (tests). A no-op without cairo.
 */
void sim_plot_release_caches(void);

#endif
