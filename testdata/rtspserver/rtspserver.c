/*
 * rtspserver: a minimal RTSP server for Veil's tests (gst-rtsp-server).
 *
 *   rtspserver PORT PATH PATTERN FPS
 *
 * serves rtsp://127.0.0.1:PORT/PATH: the JPEG files PATTERN (a printf
 * pattern such as /tmp/frames/%05d.jpg, numbered from 0) looped forever at
 * FPS frames per second as RTP/JPEG (RFC 2435: baseline, 4:2:0). PORT 0
 * picks a free port. One pipeline is shared by every client. When it
 * listens, it prints "port N" on stdout.
 *
 * Build: gcc -o rtspserver rtspserver.c $(pkg-config --cflags --libs gstreamer-rtsp-server-1.0)
 */
#include <stdio.h>
#include <stdlib.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

/* multifilesrc and jpegparse (1.22) leave frames untimestamped, and the
 * server would send them as fast as it can: stamp frame n at n/fps. */
static GstPadProbeReturn stamp(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
	guint64 *n = data; /* n[0]: frames so far, n[1]: frame duration */
	GstBuffer *buf = gst_buffer_make_writable(gst_pad_probe_info_get_buffer(info));
	GST_BUFFER_PTS(buf) = GST_BUFFER_DTS(buf) = n[0]++ * n[1];
	GST_BUFFER_DURATION(buf) = n[1];
	GST_PAD_PROBE_INFO_DATA(info) = buf;
	return GST_PAD_PROBE_OK;
}

static void configure(GstRTSPMediaFactory *f, GstRTSPMedia *media, gpointer fps) {
	GstElement *bin = gst_rtsp_media_get_element(media);
	GstElement *src = gst_bin_get_by_name(GST_BIN(bin), "parse");
	GstPad *pad = gst_element_get_static_pad(src, "src");
	guint64 *n = g_new0(guint64, 2);
	n[1] = GST_SECOND / GPOINTER_TO_INT(fps);
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, stamp, n, g_free);
	gst_object_unref(pad);
	gst_object_unref(src);
	gst_object_unref(bin);
}

int main(int argc, char **argv) {
	gst_init(&argc, &argv);
	if (argc != 5 || atoi(argv[4]) <= 0) {
		fprintf(stderr, "usage: %s PORT PATH PATTERN FPS\n", argv[0]);
		return 2;
	}
	GMainLoop *loop = g_main_loop_new(NULL, FALSE);
	GstRTSPServer *server = gst_rtsp_server_new();
	gst_rtsp_server_set_address(server, "127.0.0.1");
	gst_rtsp_server_set_service(server, argv[1]);

	/* jpegparse gives rtpjpegpay the size it needs (in the caps); it packs
	 * each file as one frame per RFC 2435. */
	gchar *launch = g_strdup_printf(
		"( multifilesrc location=\"%s\" index=0 loop=true caps=image/jpeg,framerate=%d/1"
		" ! jpegparse name=parse ! rtpjpegpay name=pay0 pt=26 )",
		argv[3], atoi(argv[4]));
	GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new();
	gst_rtsp_media_factory_set_launch(factory, launch);
	gst_rtsp_media_factory_set_shared(factory, TRUE);
	g_signal_connect(factory, "media-configure", G_CALLBACK(configure), GINT_TO_POINTER(atoi(argv[4])));
	g_free(launch);

	gchar *mount = g_strdup_printf("/%s", argv[2]);
	GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(server);
	gst_rtsp_mount_points_add_factory(mounts, mount, factory);
	g_object_unref(mounts);
	g_free(mount);

	if (gst_rtsp_server_attach(server, NULL) == 0) {
		fprintf(stderr, "rtspserver: cannot listen on 127.0.0.1:%s\n", argv[1]);
		return 1;
	}
	printf("port %d\n", gst_rtsp_server_get_bound_port(server));
	fflush(stdout);
	g_main_loop_run(loop);
	return 0;
}
