/* sim/plot.c — draw miss ratio curves with cairo (optional at build time). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot.h"

#ifndef SIM_HAVE_CAIRO

bool sim_plot_available(void)
{
	return false;
}

void sim_plot_release_caches(void)
{
}

int sim_plot_png(const char *path, const struct sim_plot_panel *panels, size_t count,
		 char err[SIM_TRACE_ERR_LEN])
{
	(void)panels;
	(void)count;
	snprintf(err, SIM_TRACE_ERR_LEN,
		 "cannot write %s: this build has no PNG support (install libcairo2-dev and rebuild)",
		 path);
	return -ENOTSUP;
}

#else

#include <cairo.h>
#ifdef SIM_HAVE_FONTCONFIG
#include <fontconfig/fontconfig.h>
#endif

/* Geometry, in pixels. */
#define PANEL_W      620
#define PANEL_H      420
#define LEGEND_W     170
#define MARGIN_L     78
#define MARGIN_R     22
#define MARGIN_T     42
#define MARGIN_B     62
#define FONT         "DejaVu Sans"

/* Distinguishable colours (Okabe & Ito's palette, then a few more). */
static const double palette[][3] = {
	{ 0.000, 0.447, 0.698 },        /* blue */
	{ 0.902, 0.624, 0.000 },        /* orange */
	{ 0.000, 0.620, 0.451 },        /* bluish green */
	{ 0.800, 0.475, 0.655 },        /* reddish purple */
	{ 0.337, 0.706, 0.914 },        /* sky blue */
	{ 0.835, 0.369, 0.000 },        /* vermillion */
	{ 0.580, 0.404, 0.741 },        /* purple */
	{ 0.549, 0.337, 0.294 },        /* brown */
	{ 0.498, 0.498, 0.498 },        /* grey */
	{ 0.737, 0.741, 0.133 },        /* olive */
};
#define PALETTE_SIZE (sizeof(palette) / sizeof(palette[0]))

bool sim_plot_available(void)
{
	return true;
}

void sim_plot_release_caches(void)
{
	cairo_debug_reset_static_data();
#ifdef SIM_HAVE_FONTCONFIG
	FcFini();
#endif
}

struct axis {
	double max;             /* the axis runs from 0 to max */
	double step;            /* between ticks */
};

/* 0 .. a round number at or above @top, with 4-8 ticks of 1, 2 or 5 x 10^k. */
static struct axis nice_axis(double top)
{
	struct axis a;
	double raw, mag, f;

	if (!(top > 0))
		top = 1;
	raw = top / 5;
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	a.step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
	a.max = ceil(top / a.step - 1e-9) * a.step;
	return a;
}

static void set_colour(cairo_t *cr, const struct sim_plot_series *s)
{
	size_t i = s->style;

	if (s->dashed)
		cairo_set_source_rgb(cr, 0, 0, 0);
	else
		cairo_set_source_rgb(cr, palette[i % PALETTE_SIZE][0],
				     palette[i % PALETTE_SIZE][1], palette[i % PALETTE_SIZE][2]);
}

static void set_line(cairo_t *cr, const struct sim_plot_series *s)
{
	static const double dash[] = { 7.0, 4.0 };

	cairo_set_line_width(cr, s->dashed ? 2.0 : 2.2);
	cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
}

/* Marker @i at (x, y): circle, square, triangle, diamond, inverted
 * triangle, so that curves stay apart where colours are close or lines
 * overlap. OPT gets a small dot. */
static void draw_marker(cairo_t *cr, const struct sim_plot_series *s, double x, double y)
{
	const double r = 3.6;

	if (s->dashed) {
		cairo_arc(cr, x, y, 2.5, 0, 2 * M_PI);
		cairo_fill(cr);
		return;
	}
	switch (s->style % 5) {
	case 0:
		cairo_arc(cr, x, y, r, 0, 2 * M_PI);
		break;
	case 1:
		cairo_rectangle(cr, x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
		break;
	case 2:
		cairo_move_to(cr, x, y - r * 1.15);
		cairo_line_to(cr, x + r, y + r * 0.75);
		cairo_line_to(cr, x - r, y + r * 0.75);
		cairo_close_path(cr);
		break;
	case 3:
		cairo_move_to(cr, x, y - r * 1.2);
		cairo_line_to(cr, x + r, y);
		cairo_line_to(cr, x, y + r * 1.2);
		cairo_line_to(cr, x - r, y);
		cairo_close_path(cr);
		break;
	default:
		cairo_move_to(cr, x, y + r * 1.15);
		cairo_line_to(cr, x + r, y - r * 0.75);
		cairo_line_to(cr, x - r, y - r * 0.75);
		cairo_close_path(cr);
		break;
	}
	cairo_fill(cr);
}

/* Text with its anchor at (x, y): @ax, @ay 0 = left/top, 0.5 centre, 1 = right/bottom. */
static void text_at(cairo_t *cr, double x, double y, double ax, double ay, const char *s)
{
	cairo_text_extents_t e;

	cairo_text_extents(cr, s, &e);
	cairo_move_to(cr, x - e.x_bearing - e.width * ax, y - e.y_bearing - e.height * ay);
	cairo_show_text(cr, s);
}

static void tick_label(char *buf, size_t len, double v, double step)
{
	int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);

	snprintf(buf, len, "%.*f", decimals, v);
}

static void draw_panel(cairo_t *cr, const struct sim_plot_panel *p, double ox, double oy)
{
	double x0 = ox + MARGIN_L, y0 = oy + PANEL_H - MARGIN_B;
	double w = PANEL_W - MARGIN_L - MARGIN_R, h = PANEL_H - MARGIN_T - MARGIN_B;
	double xmax = 0, ymax = 0;
	struct axis ax, ay;
	char label[32];

	for (size_t i = 0; i < p->count; i++)
		for (size_t j = 0; j < p->series[i].count; j++) {
			xmax = fmax(xmax, p->series[i].points[j].x);
			ymax = fmax(ymax, p->series[i].points[j].y);
		}
	ax = nice_axis(xmax);
	ay = nice_axis(ymax);

	/* Grid and ticks. */
	cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, 12);
	cairo_set_line_width(cr, 1);
	for (double v = 0; v <= ax.max + ax.step / 2; v += ax.step) {
		double x = x0 + v / ax.max * w;

		cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
		cairo_move_to(cr, floor(x) + 0.5, y0);
		cairo_line_to(cr, floor(x) + 0.5, y0 - h);
		cairo_stroke(cr);
		cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
		tick_label(label, sizeof(label), v, ax.step);
		text_at(cr, x, y0 + 7, 0.5, 0, label);
	}
	for (double v = 0; v <= ay.max + ay.step / 2; v += ay.step) {
		double y = y0 - v / ay.max * h;

		cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
		cairo_move_to(cr, x0, floor(y) + 0.5);
		cairo_line_to(cr, x0 + w, floor(y) + 0.5);
		cairo_stroke(cr);
		cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
		tick_label(label, sizeof(label), v, ay.step);
		text_at(cr, x0 - 7, y, 1, 0.5, label);
	}
	cairo_set_source_rgb(cr, 0, 0, 0);
	cairo_rectangle(cr, floor(x0) + 0.5, floor(y0 - h) + 0.5, floor(w), floor(h));
	cairo_stroke(cr);

	/* Labels and title. */
	cairo_set_font_size(cr, 13);
	text_at(cr, x0 + w / 2, oy + PANEL_H - 24, 0.5, 0, p->x_label);
	cairo_save(cr);
	cairo_translate(cr, ox + 18, y0 - h / 2);
	cairo_rotate(cr, -M_PI / 2);
	text_at(cr, 0, 0, 0.5, 0.5, p->y_label);
	cairo_restore(cr);
	cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
	cairo_set_font_size(cr, 14);
	text_at(cr, x0 + w / 2, oy + 14, 0.5, 0, p->title);

	/* Curves, clipped to the plot area, then markers. */
	cairo_save(cr);
	cairo_rectangle(cr, x0 - 5, y0 - h - 5, w + 10, h + 10);
	cairo_clip(cr);
	for (size_t i = 0; i < p->count; i++) {
		const struct sim_plot_series *s = &p->series[i];

		set_colour(cr, s);
		set_line(cr, s);
		for (size_t j = 0; j < s->count; j++) {
			double x = x0 + s->points[j].x / ax.max * w;
			double y = y0 - s->points[j].y / ay.max * h;

			if (j == 0)
				cairo_move_to(cr, x, y);
			else
				cairo_line_to(cr, x, y);
		}
		cairo_stroke(cr);
		cairo_set_dash(cr, NULL, 0, 0);
		for (size_t j = 0; j < s->count; j++)
			draw_marker(cr, s, x0 + s->points[j].x / ax.max * w,
				    y0 - s->points[j].y / ay.max * h);
	}
	cairo_restore(cr);
}

static void draw_legend(cairo_t *cr, const struct sim_plot_panel *p, double ox, double oy)
{
	cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
	cairo_set_font_size(cr, 13);
	cairo_set_source_rgb(cr, 0, 0, 0);
	text_at(cr, ox + 12, oy + MARGIN_T, 0, 0, "policy");
	cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
	for (size_t i = 0; i < p->count; i++) {
		const struct sim_plot_series *s = &p->series[i];
		double y = oy + MARGIN_T + 32 + 22.0 * (double)i;

		set_colour(cr, s);
		set_line(cr, s);
		cairo_move_to(cr, ox + 12, y);
		cairo_line_to(cr, ox + 44, y);
		cairo_stroke(cr);
		cairo_set_dash(cr, NULL, 0, 0);
		draw_marker(cr, s, ox + 28, y);
		cairo_set_source_rgb(cr, 0, 0, 0);
		text_at(cr, ox + 52, y, 0, 0.5, s->label);
	}
}

int sim_plot_png(const char *path, const struct sim_plot_panel *panels, size_t count,
		 char err[SIM_TRACE_ERR_LEN])
{
	size_t cols = count > 1 ? 2 : 1;
	size_t rows = count ? (count + cols - 1) / cols : 1;
	int width = (int)(cols * PANEL_W + LEGEND_W), height = (int)(rows * PANEL_H);
	cairo_surface_t *surface;
	cairo_status_t status;
	cairo_t *cr;

	surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
	cr = cairo_create(surface);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	for (size_t i = 0; i < count; i++)
		draw_panel(cr, &panels[i], (double)(i % cols) * PANEL_W,
			   (double)(i / cols) * PANEL_H);
	if (count)
		draw_legend(cr, &panels[0], (double)cols * PANEL_W, 0);
	status = cairo_status(cr);
	if (status == CAIRO_STATUS_SUCCESS)
		status = cairo_surface_write_to_png(surface, path);
	cairo_destroy(cr);
	cairo_surface_destroy(surface);
	if (status != CAIRO_STATUS_SUCCESS) {
		snprintf(err, SIM_TRACE_ERR_LEN, "cannot write %s: %s", path,
			 cairo_status_to_string(status));
		return status == CAIRO_STATUS_NO_MEMORY ? -ENOMEM : -EIO;
	}
	return 0;
}

#endif
