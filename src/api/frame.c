/* frame: encoding and incremental decoding of upgraded-connection frames. */
#include "api/frame.h"

#include "base/util.h"

void api_frame_header(uint8_t hdr[API_FRAME_HDR], enum api_frame_type type, size_t len)
{
	hdr[0] = (uint8_t)type;
	hdr[1] = hdr[2] = hdr[3] = 0;
	hdr[4] = (uint8_t)(len >> 24);
	hdr[5] = (uint8_t)(len >> 16);
	hdr[6] = (uint8_t)(len >> 8);
	hdr[7] = (uint8_t)len;
}

void api_frame_resize(uint8_t out[API_FRAME_HDR + 4], unsigned rows, unsigned cols)
{
	api_frame_header(out, API_FRAME_RESIZE, 4);
	out[8] = (uint8_t)(rows >> 8);
	out[9] = (uint8_t)rows;
	out[10] = (uint8_t)(cols >> 8);
	out[11] = (uint8_t)cols;
}

int api_frame_resize_parse(const uint8_t *p, size_t len, unsigned *ret_rows, unsigned *ret_cols)
{
	if (len != 4)
		return -EINVAL;
	unsigned rows = (unsigned)p[0] << 8 | p[1], cols = (unsigned)p[2] << 8 | p[3];
	if (!rows || !cols)
		return -EINVAL;
	*ret_rows = rows;
	*ret_cols = cols;
	return 0;
}

static int header_done(struct api_frame_dec *d, struct err *err)
{
	const uint8_t *h = d->hdr;
	size_t len = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];

	if (h[0] > API_FRAME_CLOSE)
		return err_msg(err, EPROTO, "frame: unknown type %u", h[0]);
	if (h[1] || h[2] || h[3])
		return err_msg(err, EPROTO, "frame: bad header");
	if (len > API_FRAME_MAX)
		return err_msg(err, EPROTO, "frame: %zu bytes, above the %u byte limit", len,
			       API_FRAME_MAX);
	d->want = len;
	d->have = 0;
	d->in_payload = true;
	if (!d->buf)
		d->buf = xmalloc(API_FRAME_MAX);
	return 0;
}

int api_frame_feed(struct api_frame_dec *d, const void *data, size_t len, api_frame_fn fn,
		   void *ctx, struct err *err)
{
	const uint8_t *p = data, *end = p + len;

	while (p < end || (d->in_payload && d->have == d->want)) {
		if (!d->in_payload) {
			size_t n = API_FRAME_HDR - d->hdr_len;
			if (n > (size_t)(end - p))
				n = end - p;
			memcpy(d->hdr + d->hdr_len, p, n);
			d->hdr_len += n;
			p += n;
			if (d->hdr_len < API_FRAME_HDR)
				break;
			CHECK(header_done(d, err));
			continue;
		}
		size_t n = d->want - d->have;
		if (n > (size_t)(end - p))
			n = end - p;
		memcpy(d->buf + d->have, p, n);
		d->have += n;
		p += n;
		if (d->have < d->want)
			break;
		d->in_payload = false;
		d->hdr_len = 0;
		int r = fn(ctx, (enum api_frame_type)d->hdr[0], d->buf, d->want);
		if (r < 0)
			return r;
	}
	return 0;
}

void api_frame_dec_free(struct api_frame_dec *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}
