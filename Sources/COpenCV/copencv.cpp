// The C++ side of COpenCV. Every entry point runs its body through `guarded`, which turns
// exceptions (cv::Exception included) into a status code and a message in the caller's
// cocv_error.

#include "copencv.h"

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect/face.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

namespace {

struct status_error {
    int32_t code;
    std::string message;
};

void set_error(cocv_error *err, int32_t code, const std::string &message) {
    if (!err) return;
    err->code = code;
    std::snprintf(err->message, sizeof err->message, "%s", message.c_str());
}

template <typename Body>
int32_t guarded(cocv_error *err, Body &&body) {
    try {
        body();
        if (err) { err->code = COCV_OK; err->message[0] = 0; }
        return COCV_OK;
    } catch (const status_error &e) {
        set_error(err, e.code, e.message);
        return e.code;
    } catch (const std::bad_alloc &) {
        set_error(err, COCV_ERR_NO_MEMORY, "out of memory");
        return COCV_ERR_NO_MEMORY;
    } catch (const cv::Exception &e) {
        set_error(err, COCV_ERR_INTERNAL, std::string("OpenCV error: ") + e.what());
        return COCV_ERR_INTERNAL;
    } catch (const std::exception &e) {
        set_error(err, COCV_ERR_INTERNAL, std::string("error: ") + e.what());
        return COCV_ERR_INTERNAL;
    } catch (...) {
        set_error(err, COCV_ERR_INTERNAL, "unknown error inside OpenCV");
        return COCV_ERR_INTERNAL;
    }
}

[[noreturn]] void fail(int32_t code, const std::string &message) { throw status_error{code, message}; }

void require_readable(const char *path, const char *what) {
    if (!path || !*path) fail(COCV_ERR_ARGUMENT, std::string("no path given for the ") + what);
    FILE *f = std::fopen(path, "rb");
    if (!f) fail(COCV_ERR_MODEL, std::string("cannot open the ") + what + " at " + path + ": " + std::strerror(errno));
    std::fclose(f);
}

// Refuse absurd images outright; the Swift side applies the configurable, smaller cap.
constexpr long long kMaxPixels = 400LL * 1000 * 1000;

// A BGR copy of the caller's RGB pixels (OpenCV's models were trained on BGR).
cv::Mat to_bgr(const cocv_image &image) {
    if (!image.pixels) fail(COCV_ERR_ARGUMENT, "image has no pixels");
    if (image.width <= 0 || image.height <= 0) fail(COCV_ERR_ARGUMENT, "image has zero width or height");
    if (image.stride < image.width * 3) fail(COCV_ERR_ARGUMENT, "image stride is smaller than width * 3");
    if (static_cast<long long>(image.width) * image.height > kMaxPixels) fail(COCV_ERR_ARGUMENT, "image is too large");
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t *>(image.pixels), static_cast<size_t>(image.stride));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    return bgr;
}

// Upstream's CropImage._get_new_box: the box scaled about its centre by `scale` (less when
// the image is too small to hold it), then shifted to lie inside the image.
cv::Rect scaled_box(int src_w, int src_h, const cocv_box &box, float scale) {
    if (!(box.width >= 1 && box.height >= 1) || !std::isfinite(box.x) || !std::isfinite(box.y))
        fail(COCV_ERR_ARGUMENT, "the face box is empty or not finite");
    if (box.x >= src_w || box.y >= src_h || box.x + box.width <= 0 || box.y + box.height <= 0)
        fail(COCV_ERR_ARGUMENT, "the face box lies outside the image");
    double bw = box.width, bh = box.height;
    double s = std::min({static_cast<double>(scale), (src_h - 1) / bh, (src_w - 1) / bw});
    double nw = bw * s, nh = bh * s;
    double cx = box.x + bw / 2, cy = box.y + bh / 2;
    double l = cx - nw / 2, t = cy - nh / 2, r = cx + nw / 2, b = cy + nh / 2;
    if (l < 0) { r -= l; l = 0; }
    if (t < 0) { b -= t; t = 0; }
    if (r > src_w - 1) { l -= r - src_w + 1; r = src_w - 1; }
    if (b > src_h - 1) { t -= b - src_h + 1; b = src_h - 1; }
    int il = std::max(0, static_cast<int>(l)), it = std::max(0, static_cast<int>(t));
    int ir = std::min(src_w - 1, static_cast<int>(r)), ib = std::min(src_h - 1, static_cast<int>(b));
    if (ir < il || ib < it) fail(COCV_ERR_ARGUMENT, "the face box leaves nothing to crop");
    return cv::Rect(il, it, ir - il + 1, ib - it + 1);
}

struct minifasnet {
    cv::dnn::Net net;
    float scale = 1;

    void load(const char *path, float s, const char *what) {
        require_readable(path, what);
        if (!(s >= 1 && s <= 10)) fail(COCV_ERR_ARGUMENT, std::string("the crop scale of the ") + what + " must be between 1 and 10");
        try {
            net = cv::dnn::readNetFromONNX(path);
        } catch (const cv::Exception &e) {
            fail(COCV_ERR_MODEL, std::string("the ") + what + " at " + path + " is not a readable ONNX model (" + e.msg + ")");
        }
        if (net.empty()) fail(COCV_ERR_MODEL, std::string("the ") + what + " at " + path + " holds no network");
        net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        scale = s;
        // One pass on a blank crop proves the file is a 3-class 80x80 model.
        cv::Mat blank(COCV_PAD_INPUT, COCV_PAD_INPUT, CV_8UC3, cv::Scalar(128, 128, 128));
        float probe[3];
        try {
            forward(blank, probe);
        } catch (const cv::Exception &e) {
            fail(COCV_ERR_MODEL, std::string("the ") + what + " at " + path + " does not take a 1x3x80x80 input (" + e.msg + ")");
        }
    }

    cv::Mat crop(const cv::Mat &bgr, const cocv_box &box) const {
        cv::Rect r = scaled_box(bgr.cols, bgr.rows, box, scale);
        cv::Mat out;
        cv::resize(bgr(r), out, cv::Size(COCV_PAD_INPUT, COCV_PAD_INPUT), 0, 0, cv::INTER_LINEAR);
        return out;
    }

    // BGR, float 0-255, NCHW: no scaling and no mean, as the models were trained.
    void forward(const cv::Mat &crop80, float *probs) {
        cv::Mat blob = cv::dnn::blobFromImage(crop80, 1.0, cv::Size(), cv::Scalar(), false, false, CV_32F);
        net.setInput(blob, "input");
        cv::Mat out = net.forward();
        if (out.total() != 3) fail(COCV_ERR_MODEL, "the anti-spoofing model did not produce three logits");
        const float *logits = out.ptr<float>();
        float m = std::max({logits[0], logits[1], logits[2]});
        double e[3], sum = 0;
        for (int i = 0; i < 3; ++i) { e[i] = std::exp(static_cast<double>(logits[i] - m)); sum += e[i]; }
        for (int i = 0; i < 3; ++i) probs[i] = static_cast<float>(e[i] / sum);
    }
};

}  // namespace

struct cocv_pad {
    minifasnet v2, v1se;
};

struct cocv_retinaface {
    cv::dnn::Net net;
};

struct cocv_sface {
    cv::Ptr<cv::FaceRecognizerSF> recognizer;
};

struct cocv_yunet {
    cv::Ptr<cv::FaceDetectorYN> detector;
};

namespace {

// alignCrop reads the five points from a YuNet row: x, y, w, h, then the points.
cv::Mat face_row(const float *points10) {
    cv::Mat row(1, 15, CV_32F, cv::Scalar(0));
    for (int i = 0; i < 10; ++i) {
        if (!std::isfinite(points10[i])) fail(COCV_ERR_ARGUMENT, "a face point is not finite");
        row.at<float>(0, 4 + i) = points10[i];
    }
    return row;
}

cv::Mat rgb_view(const cocv_image &image) {
    if (!image.pixels) fail(COCV_ERR_ARGUMENT, "image has no pixels");
    if (image.width <= 0 || image.height <= 0) fail(COCV_ERR_ARGUMENT, "image has zero width or height");
    if (image.stride < image.width * 3) fail(COCV_ERR_ARGUMENT, "image stride is smaller than width * 3");
    if (static_cast<long long>(image.width) * image.height > kMaxPixels) fail(COCV_ERR_ARGUMENT, "image is too large");
    return cv::Mat(image.height, image.width, CV_8UC3, const_cast<uint8_t *>(image.pixels), static_cast<size_t>(image.stride));
}

// upstream feeds alignCrop's output to feature() as BGR; both only swap channels, so the
// image is converted once here to keep that order.
cv::Mat sface_aligned_bgr(cocv_sface *sface, const cocv_image &image, const float *points10) {
    cv::Mat bgr = to_bgr(image), aligned;
    sface->recognizer->alignCrop(bgr, face_row(points10), aligned);
    if (aligned.rows != 112 || aligned.cols != 112) fail(COCV_ERR_INTERNAL, "SFace's alignment did not give a 112x112 face");
    return aligned;
}

}  // namespace

extern "C" {

void cocv_set_threads(int32_t threads) {
    try { cv::setNumThreads(threads > 0 ? threads : -1); } catch (...) {}
}

cocv_pad *cocv_pad_create(const char *v2_path, float v2_scale, const char *v1se_path, float v1se_scale, cocv_error *err) {
    cocv_pad *pad = nullptr;
    int32_t status = guarded(err, [&] {
        std::unique_ptr<cocv_pad> p(new cocv_pad());
        p->v2.load(v2_path, v2_scale, "MiniFASNetV2 model");
        p->v1se.load(v1se_path, v1se_scale, "MiniFASNetV1SE model");
        pad = p.release();
    });
    return status == COCV_OK ? pad : nullptr;
}

void cocv_pad_destroy(cocv_pad *pad) { delete pad; }

int32_t cocv_pad_score(cocv_pad *pad, cocv_image image, cocv_box box, float *out6, cocv_error *err) {
    return guarded(err, [&] {
        if (!pad || !out6) fail(COCV_ERR_ARGUMENT, "null engine or output");
        cv::Mat bgr = to_bgr(image);
        pad->v2.forward(pad->v2.crop(bgr, box), out6);
        pad->v1se.forward(pad->v1se.crop(bgr, box), out6 + 3);
    });
}

int32_t cocv_pad_crop(cocv_pad *pad, cocv_image image, cocv_box box, int32_t which, uint8_t *out_rgb, cocv_error *err) {
    return guarded(err, [&] {
        if (!pad || !out_rgb) fail(COCV_ERR_ARGUMENT, "null engine or output");
        if (which != 0 && which != 1) fail(COCV_ERR_ARGUMENT, "the model must be 0 (V2) or 1 (V1SE)");
        cv::Mat bgr = to_bgr(image);
        cv::Mat crop = (which == 0 ? pad->v2 : pad->v1se).crop(bgr, box);
        cv::Mat rgb(COCV_PAD_INPUT, COCV_PAD_INPUT, CV_8UC3, out_rgb);
        cv::cvtColor(crop, rgb, cv::COLOR_BGR2RGB);
    });
}

cocv_retinaface *cocv_retinaface_create(const char *prototxt_path, const char *caffemodel_path, cocv_error *err) {
    cocv_retinaface *detector = nullptr;
    int32_t status = guarded(err, [&] {
        require_readable(prototxt_path, "RetinaFace prototxt");
        require_readable(caffemodel_path, "RetinaFace caffemodel");
        std::unique_ptr<cocv_retinaface> d(new cocv_retinaface());
        try {
            d->net = cv::dnn::readNetFromCaffe(prototxt_path, caffemodel_path);
        } catch (const cv::Exception &e) {
            fail(COCV_ERR_MODEL, std::string("the RetinaFace model at ") + caffemodel_path + " could not be read (" + e.msg + ")");
        }
        if (d->net.empty()) fail(COCV_ERR_MODEL, "the RetinaFace model holds no network");
        detector = d.release();
    });
    return status == COCV_OK ? detector : nullptr;
}

void cocv_retinaface_destroy(cocv_retinaface *detector) { delete detector; }

int32_t cocv_retinaface_detect(cocv_retinaface *detector, cocv_image image, float min_confidence,
                               cocv_box *box, float *confidence, int32_t *found, cocv_error *err) {
    return guarded(err, [&] {
        if (!detector || !box || !confidence || !found) fail(COCV_ERR_ARGUMENT, "null engine or output");
        *found = 0;
        cv::Mat bgr = to_bgr(image);
        const double w = bgr.cols, h = bgr.rows;
        cv::Mat input = bgr;
        if (w * h >= 192.0 * 192.0) {
            double aspect = w / h;
            cv::resize(bgr, input, cv::Size(static_cast<int>(192 * std::sqrt(aspect)), static_cast<int>(192 / std::sqrt(aspect))), 0, 0, cv::INTER_LINEAR);
        }
        cv::Mat blob = cv::dnn::blobFromImage(input, 1.0, cv::Size(), cv::Scalar(104, 117, 123), false, false, CV_32F);
        detector->net.setInput(blob, "data");
        cv::Mat out = detector->net.forward("detection_out");
        // 1 x 1 x N x 7: image id, label, confidence, then the box in [0, 1].
        if (out.dims != 4 || out.size[3] != 7) fail(COCV_ERR_MODEL, "the RetinaFace model's output is not N x 7 detections");
        const float *rows = out.ptr<float>();
        int n = out.size[2], best = -1;
        for (int i = 0; i < n; ++i)
            if (best < 0 || rows[7 * i + 2] > rows[7 * best + 2]) best = i;
        if (best < 0 || rows[7 * best + 2] < min_confidence) return;
        const float *r = rows + 7 * best;
        float l = r[3] * w, t = r[4] * h, rr = r[5] * w, bb = r[6] * h;
        *box = cocv_box{l, t, rr - l + 1, bb - t + 1};
        *confidence = r[2];
        *found = 1;
    });
}

cocv_sface *cocv_sface_create(const char *model_path, cocv_error *err) {
    cocv_sface *sface = nullptr;
    int32_t status = guarded(err, [&] {
        require_readable(model_path, "SFace model");
        std::unique_ptr<cocv_sface> s(new cocv_sface());
        try {
            s->recognizer = cv::FaceRecognizerSF::create(model_path, "");
        } catch (const cv::Exception &e) {
            fail(COCV_ERR_MODEL, std::string("the SFace model at ") + model_path + " is not a readable ONNX model (" + e.msg + ")");
        }
        if (s->recognizer.empty()) fail(COCV_ERR_MODEL, std::string("the SFace model at ") + model_path + " could not be loaded");
        // One pass on a grey face proves the file gives a 128-D feature for 112x112.
        cv::Mat blank(112, 112, CV_8UC3, cv::Scalar(128, 128, 128)), feature;
        try {
            s->recognizer->feature(blank, feature);
        } catch (const cv::Exception &e) {
            fail(COCV_ERR_MODEL, std::string("the SFace model at ") + model_path + " does not take a 112x112 face (" + e.msg + ")");
        }
        if (feature.total() != COCV_SFACE_DIM) fail(COCV_ERR_MODEL, std::string("the SFace model at ") + model_path + " does not give 128 numbers per face");
        sface = s.release();
    });
    return status == COCV_OK ? sface : nullptr;
}

void cocv_sface_destroy(cocv_sface *sface) { delete sface; }

int32_t cocv_sface_embed(cocv_sface *sface, cocv_image image, const float *points10, float *out128, cocv_error *err) {
    return guarded(err, [&] {
        if (!sface || !points10 || !out128) fail(COCV_ERR_ARGUMENT, "null engine, points or output");
        cv::Mat aligned = sface_aligned_bgr(sface, image, points10), feature;
        sface->recognizer->feature(aligned, feature);
        if (feature.total() != COCV_SFACE_DIM || feature.type() != CV_32F) fail(COCV_ERR_MODEL, "the SFace model did not give 128 numbers");
        std::memcpy(out128, feature.ptr<float>(), COCV_SFACE_DIM * sizeof(float));
    });
}

int32_t cocv_sface_aligned(cocv_sface *sface, cocv_image image, const float *points10, uint8_t *out_rgb, cocv_error *err) {
    return guarded(err, [&] {
        if (!sface || !points10 || !out_rgb) fail(COCV_ERR_ARGUMENT, "null engine, points or output");
        cv::Mat aligned = sface_aligned_bgr(sface, image, points10);
        cv::Mat rgb(112, 112, CV_8UC3, out_rgb);
        cv::cvtColor(aligned, rgb, cv::COLOR_BGR2RGB);
    });
}

cocv_yunet *cocv_yunet_create(const char *model_path, cocv_error *err) {
    cocv_yunet *yunet = nullptr;
    int32_t status = guarded(err, [&] {
        require_readable(model_path, "YuNet model");
        std::unique_ptr<cocv_yunet> y(new cocv_yunet());
        try {
            y->detector = cv::FaceDetectorYN::create(model_path, "", cv::Size(160, 120), 0.6f, 0.3f, 50);
        } catch (const cv::Exception &e) {
            fail(COCV_ERR_MODEL, std::string("the YuNet model at ") + model_path + " is not a readable ONNX model (" + e.msg + ")");
        }
        if (y->detector.empty()) fail(COCV_ERR_MODEL, std::string("the YuNet model at ") + model_path + " could not be loaded");
        cv::Mat blank(120, 160, CV_8UC3, cv::Scalar(128, 128, 128)), faces;
        try {
            y->detector->detect(blank, faces);
        } catch (const cv::Exception &e) {
            fail(COCV_ERR_MODEL, std::string("the YuNet model at ") + model_path + " does not run on OpenCV 4.6's FaceDetectorYN (" + e.msg + ")");
        }
        yunet = y.release();
    });
    return status == COCV_OK ? yunet : nullptr;
}

void cocv_yunet_destroy(cocv_yunet *yunet) { delete yunet; }

int32_t cocv_yunet_detect(cocv_yunet *yunet, cocv_image image, cocv_box region, int32_t max_side, float score_threshold,
                          float *rows15, int32_t capacity, int32_t *found, cocv_error *err) {
    return guarded(err, [&] {
        if (!yunet || !rows15 || !found) fail(COCV_ERR_ARGUMENT, "null engine or output");
        if (capacity < 1) fail(COCV_ERR_ARGUMENT, "no room for a face");
        if (max_side < 32 || max_side > 4096) fail(COCV_ERR_ARGUMENT, "max_side must be between 32 and 4096");
        *found = 0;
        cv::Mat rgb = rgb_view(image);
        if (!std::isfinite(region.x) || !std::isfinite(region.y) || !(region.width >= 1) || !(region.height >= 1))
            fail(COCV_ERR_ARGUMENT, "the region is empty or not finite");
        int l = std::max(0, static_cast<int>(std::floor(region.x))), t = std::max(0, static_cast<int>(std::floor(region.y)));
        int r = std::min(rgb.cols, static_cast<int>(std::ceil(region.x + region.width)));
        int b = std::min(rgb.rows, static_cast<int>(std::ceil(region.y + region.height)));
        if (r - l < 8 || b - t < 8) fail(COCV_ERR_ARGUMENT, "the region lies outside the image or is too small");
        cv::Mat crop;
        cv::cvtColor(rgb(cv::Rect(l, t, r - l, b - t)), crop, cv::COLOR_RGB2BGR);
        double scale = std::min(1.0, static_cast<double>(max_side) / std::max(crop.cols, crop.rows));
        if (scale < 1.0) cv::resize(crop, crop, cv::Size(std::max(1, static_cast<int>(crop.cols * scale)), std::max(1, static_cast<int>(crop.rows * scale))), 0, 0, cv::INTER_AREA);
        yunet->detector->setScoreThreshold(score_threshold);
        yunet->detector->setInputSize(crop.size());
        cv::Mat faces;
        yunet->detector->detect(crop, faces);
        if (faces.empty()) return;
        if (faces.cols != 15 || faces.type() != CV_32F) fail(COCV_ERR_MODEL, "YuNet's output is not rows of 15 numbers");
        int n = std::min(faces.rows, capacity);
        for (int i = 0; i < n; ++i) {
            const float *f = faces.ptr<float>(i);
            float *o = rows15 + 15 * i;
            for (int k = 0; k < 14; ++k) o[k] = static_cast<float>(f[k] / scale + ((k % 2 == 0) ? l : t));
            o[2] = static_cast<float>(f[2] / scale);   // width and height are sizes, not positions
            o[3] = static_cast<float>(f[3] / scale);
            o[14] = f[14];
        }
        *found = n;
    });
}

}  // extern "C"
