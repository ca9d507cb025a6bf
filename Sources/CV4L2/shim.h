// libv4l2's entry points are variadic and its ioctl numbers are function-like macros;
// Swift imports neither. These inline wrappers are the whole bridge.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <libv4l2.h>
#include <linux/videodev2.h>

static inline int cv4l2_open(const char *path) { return v4l2_open(path, O_RDWR | O_NONBLOCK, 0); }
static inline int cv4l2_close(int fd) { return v4l2_close(fd); }

static inline int cv4l2_querycap(int fd, struct v4l2_capability *cap) { return v4l2_ioctl(fd, VIDIOC_QUERYCAP, cap); }

static inline int cv4l2_enum_format(int fd, uint32_t index, uint32_t *fourcc, char *description, size_t size) {
    struct v4l2_fmtdesc f; memset(&f, 0, sizeof f);
    f.index = index; f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    int r = v4l2_ioctl(fd, VIDIOC_ENUM_FMT, &f);
    if (r == 0) { *fourcc = f.pixelformat; strncpy(description, (const char *)f.description, size - 1); description[size - 1] = 0; }
    return r;
}

/// Discrete frame sizes of a format; for stepwise sizes, the maximum.
static inline int cv4l2_enum_size(int fd, uint32_t fourcc, uint32_t index, uint32_t *w, uint32_t *h) {
    struct v4l2_frmsizeenum s; memset(&s, 0, sizeof s);
    s.index = index; s.pixel_format = fourcc;
    int r = v4l2_ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s);
    if (r == 0) {
        if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) { *w = s.discrete.width; *h = s.discrete.height; }
        else { *w = s.stepwise.max_width; *h = s.stepwise.max_height; }
    }
    return r;
}

/// Asks for RGB24 (libv4l2 converts from MJPEG or YUYV); reports what was granted.
static inline int cv4l2_set_rgb24(int fd, uint32_t w, uint32_t h, uint32_t *got_w, uint32_t *got_h, uint32_t *stride, uint32_t *fourcc) {
    struct v4l2_format f; memset(&f, 0, sizeof f);
    f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    f.fmt.pix.width = w; f.fmt.pix.height = h;
    f.fmt.pix.pixelformat = V4L2_PIX_FMT_RGB24; f.fmt.pix.field = V4L2_FIELD_ANY;
    int r = v4l2_ioctl(fd, VIDIOC_S_FMT, &f);
    if (r == 0) { *got_w = f.fmt.pix.width; *got_h = f.fmt.pix.height; *stride = f.fmt.pix.bytesperline; *fourcc = f.fmt.pix.pixelformat; }
    return r;
}

static inline int cv4l2_set_fps(int fd, uint32_t fps) {
    struct v4l2_streamparm p; memset(&p, 0, sizeof p);
    p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    p.parm.capture.timeperframe.numerator = 1; p.parm.capture.timeperframe.denominator = fps;
    return v4l2_ioctl(fd, VIDIOC_S_PARM, &p);
}

static inline int cv4l2_request_buffers(int fd, uint32_t count) {
    struct v4l2_requestbuffers r; memset(&r, 0, sizeof r);
    r.count = count; r.type = V4L2_BUF_TYPE_VIDEO_CAPTURE; r.memory = V4L2_MEMORY_MMAP;
    if (v4l2_ioctl(fd, VIDIOC_REQBUFS, &r) != 0) return -1;
    return (int)r.count;
}

static inline void *cv4l2_map_buffer(int fd, uint32_t index, size_t *length) {
    struct v4l2_buffer b; memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE; b.memory = V4L2_MEMORY_MMAP; b.index = index;
    if (v4l2_ioctl(fd, VIDIOC_QUERYBUF, &b) != 0) return MAP_FAILED;
    *length = b.length;
    return v4l2_mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, b.m.offset);
}

static inline int cv4l2_unmap(void *start, size_t length) { return v4l2_munmap(start, length); }

static inline int cv4l2_queue(int fd, uint32_t index) {
    struct v4l2_buffer b; memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE; b.memory = V4L2_MEMORY_MMAP; b.index = index;
    return v4l2_ioctl(fd, VIDIOC_QBUF, &b);
}

static inline int cv4l2_dequeue(int fd, uint32_t *index, uint32_t *bytesused) {
    struct v4l2_buffer b; memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE; b.memory = V4L2_MEMORY_MMAP;
    int r = v4l2_ioctl(fd, VIDIOC_DQBUF, &b);
    if (r == 0) { *index = b.index; *bytesused = b.bytesused; }
    return r;
}

static inline int cv4l2_stream(int fd, int on) {
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    return v4l2_ioctl(fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &type);
}

static inline int cv4l2_errno(void) { return errno; }
static inline uint32_t cv4l2_cap_video_capture(void) { return V4L2_CAP_VIDEO_CAPTURE; }
static inline uint32_t cv4l2_cap_device_caps(void) { return V4L2_CAP_DEVICE_CAPS; }
