// The C++ side of CDlibFace. Everything here is wrapped so that no exception escapes:
// each entry point runs its body through `guarded`, which turns exceptions into a status
// code and a message in the caller's cdf_error.

#include "cdlibface.h"

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

using namespace dlib;

// ---- Network definitions. These must match, layer for layer, the networks the model
// files were trained with (dlib's dnn_face_recognition_ex and dnn_mmod_face_detection_ex),
// or deserialisation fails.

// Face recognition: a ResNet-34 variant producing a 128-D metric embedding.
template <template <int, template <typename> class, int, typename> class Block, int N,
          template <typename> class BN, typename Subnet>
using residual = add_prev1<Block<N, BN, 1, tag1<Subnet>>>;

template <template <int, template <typename> class, int, typename> class Block, int N,
          template <typename> class BN, typename Subnet>
using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<Block<N, BN, 2, tag1<Subnet>>>>>>;

template <int N, template <typename> class BN, int Stride, typename Subnet>
using conv_block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, Stride, Stride, Subnet>>>>>;

template <int N, typename Subnet> using ares = relu<residual<conv_block, N, affine, Subnet>>;
template <int N, typename Subnet> using ares_down = relu<residual_down<conv_block, N, affine, Subnet>>;

template <typename Subnet> using level0 = ares_down<256, Subnet>;
template <typename Subnet> using level1 = ares<256, ares<256, ares_down<256, Subnet>>>;
template <typename Subnet> using level2 = ares<128, ares<128, ares_down<128, Subnet>>>;
template <typename Subnet> using level3 = ares<64, ares<64, ares<64, ares_down<64, Subnet>>>>;
template <typename Subnet> using level4 = ares<32, ares<32, ares<32, Subnet>>>;

using recognition_net = loss_metric<fc_no_bias<128, avg_pool_everything<
    level0<level1<level2<level3<level4<
    max_pool<3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2,
    input_rgb_image_sized<150>>>>>>>>>>>>>;

// Face detection: max-margin object detection (MMOD) CNN over an image pyramid.
template <long F, typename Subnet> using con5d = con<F, 5, 5, 2, 2, Subnet>;
template <long F, typename Subnet> using con5 = con<F, 5, 5, 1, 1, Subnet>;
template <typename Subnet>
using downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16, Subnet>>>>>>>>>;
template <typename Subnet> using rcon5 = relu<affine<con5<45, Subnet>>>;

using mmod_net = loss_mmod<con<1, 9, 9, 1, 1, rcon5<rcon5<rcon5<downsampler<
    input_rgb_image_pyramid<pyramid_down<6>>>>>>>>;

// Alignment used by dlib's face recognition example (and so by the trained network).
constexpr unsigned long kChipSize = CDF_CHIP_SIZE;
constexpr double kChipPadding = 0.25;
// Refuse absurd images outright; FaceKit applies the configurable, smaller cap.
constexpr long long kMaxPixels = 400LL * 1000 * 1000;

struct status_error {
    int32_t code;
    std::string message;
};

void set_error(cdf_error *err, int32_t code, const std::string &message) {
    if (!err) return;
    err->code = code;
    std::snprintf(err->message, sizeof err->message, "%s", message.c_str());
}

template <typename Body>
int32_t guarded(cdf_error *err, Body &&body) {
    try {
        body();
        if (err) { err->code = CDF_OK; err->message[0] = 0; }
        return CDF_OK;
    } catch (const status_error &e) {
        set_error(err, e.code, e.message);
        return e.code;
    } catch (const std::bad_alloc &) {
        set_error(err, CDF_ERR_NO_MEMORY, "out of memory");
        return CDF_ERR_NO_MEMORY;
    } catch (const dlib::serialization_error &e) {
        set_error(err, CDF_ERR_MODEL, std::string("model file is corrupt or of the wrong kind: ") + e.what());
        return CDF_ERR_MODEL;
    } catch (const std::exception &e) {
        set_error(err, CDF_ERR_INTERNAL, std::string("dlib error: ") + e.what());
        return CDF_ERR_INTERNAL;
    } catch (...) {
        set_error(err, CDF_ERR_INTERNAL, "unknown error inside dlib");
        return CDF_ERR_INTERNAL;
    }
}

[[noreturn]] void fail(int32_t code, const std::string &message) { throw status_error{code, message}; }

void require_readable(const char *path, const char *what) {
    if (!path || !*path) fail(CDF_ERR_ARGUMENT, std::string("no path given for the ") + what);
    FILE *f = std::fopen(path, "rb");
    if (!f) fail(CDF_ERR_MODEL, std::string("cannot open the ") + what + " at " + path + ": " + std::strerror(errno));
    std::fclose(f);
}

template <typename Model>
void load_model(Model &model, const char *path, const char *what) {
    require_readable(path, what);
    try {
        deserialize(path) >> model;
    } catch (const dlib::serialization_error &e) {
        fail(CDF_ERR_MODEL, std::string("the ") + what + " at " + path + " is corrupt or not a " + what + " (" + e.what() + ")");
    }
}

// The caller's packed RGB rows, read in place as a dlib image (see image_traits<rgb_view>
// below). Landmarks and chips read a few thousand pixels of a frame; copying all of it
// first (2.7 MB at 1280x720) cost more than reading them, once per call.
struct rgb_view {
    const uint8_t *pixels;
    long rows, columns, stride;
};

rgb_view view_of(const cdf_image &image) {
    if (!image.pixels) fail(CDF_ERR_ARGUMENT, "image has no pixels");
    if (image.width <= 0 || image.height <= 0) fail(CDF_ERR_ARGUMENT, "image has zero width or height");
    if (image.stride < image.width * 3) fail(CDF_ERR_ARGUMENT, "image stride is smaller than width * 3");
    if (static_cast<long long>(image.width) * image.height > kMaxPixels) fail(CDF_ERR_ARGUMENT, "image is too large");
    return rgb_view{image.pixels, image.height, image.width, image.stride};
}

// dlib's generic image interface, found by argument-dependent lookup. Read-only: nothing
// here resizes a view or writes through it (image_data's non-const form exists only
// because dlib's views ask for it).
long num_rows(const rgb_view &v) { return v.rows; }
long num_columns(const rgb_view &v) { return v.columns; }
long width_step(const rgb_view &v) { return v.stride; }
const void *image_data(const rgb_view &v) { return v.pixels; }
void *image_data(rgb_view &v) { return const_cast<uint8_t *>(v.pixels); }

// A copy of the caller's frame, for detection (which scales it).
matrix<rgb_pixel> to_matrix(const cdf_image &image) {
    const rgb_view v = view_of(image);
    matrix<rgb_pixel> m(v.rows, v.columns);
    for (long r = 0; r < v.rows; ++r) {
        const uint8_t *row = v.pixels + static_cast<size_t>(r) * v.stride;
        for (long c = 0; c < v.columns; ++c) {
            m(r, c) = rgb_pixel(row[3 * c], row[3 * c + 1], row[3 * c + 2]);
        }
    }
    return m;
}

full_object_detection to_shape(const cdf_face &face) {
    std::vector<point> parts;
    for (int i = 0; i < 5; ++i) {
        parts.emplace_back(std::lround(face.landmarks[2 * i]), std::lround(face.landmarks[2 * i + 1]));
    }
    return full_object_detection(rectangle(face.left, face.top, face.right, face.bottom), parts);
}

}  // namespace

namespace dlib {
// dlib's rgb_pixel is three packed bytes in this order, so the caller's rows are its pixels.
template <> struct image_traits<rgb_view> { typedef rgb_pixel pixel_type; };
static_assert(sizeof(rgb_pixel) == 3, "rgb_pixel must be packed RGB");
}  // namespace dlib

struct cdf_engine {
    shape_predictor landmarks;
    recognition_net recognition;
    frontal_face_detector hog = get_frontal_face_detector();
    std::unique_ptr<mmod_net> cnn;

    // The shape predictor starts from the box it is given, so its landmarks move with the
    // box: where HOG's 8-pixel grid fell at the pyramid level that found the face (at a
    // door's face sizes, steps of 20-30 px in the frame), and whether the whole frame or a
    // region around a tracked face was scanned. Fitting again from the box the detector
    // would give on average for the landmarks just found makes them close to independent of
    // the first box. Boxes moved or scaled by 12% moved a landmark by up to 0.24 eye
    // distances and the embedding by up to 0.14 when fitted once; refitted twice, by 0.019
    // and 0.054 (FaceEngineTests). A region scan's face now gets the whole frame's
    // landmarks, and the same answers (docs/benchmarks.md, issue 23).
    static constexpr int kLandmarkRefits = CDF_LANDMARK_REFITS;

    template <typename Image>
    void fit_landmarks(const Image &img, cdf_face &face) {
        const rectangle detected(face.left, face.top, face.right, face.bottom);
        full_object_detection shape = fit_once(img, detected);
        for (int i = 0; i < kLandmarkRefits; ++i) {
            rectangle box;
            if (!box_for_landmarks(shape, detected, box)) break;
            shape = fit_once(img, box);
        }
        for (unsigned long i = 0; i < 5; ++i) {
            face.landmarks[2 * i] = static_cast<float>(shape.part(i).x());
            face.landmarks[2 * i + 1] = static_cast<float>(shape.part(i).y());
        }
    }

    template <typename Image>
    full_object_detection fit_once(const Image &img, const rectangle &box) {
        full_object_detection shape = landmarks(img, box);
        if (shape.num_parts() != 5) fail(CDF_ERR_MODEL, "the shape predictor is not the 5-point model");
        return shape;
    }

    // Where dlib's HOG detector puts a face's box relative to its 5 landmarks, in units of
    // (eye midpoint to nose + half the distance between the eye centres): the box's centre
    // lies kBoxBelowEyes below the eye midpoint and its side is kBoxSide. Means over the
    // 203 single-face photos of ../shared/faces detected at upsample 1 (0.40 and 1.92;
    // medians 0.40 and 1.93; spread 0.08 and 0.18); at a door camera's scale and upsample
    // 0, means 0.38 and 1.89.
    static constexpr double kBoxBelowEyes = 0.40;
    static constexpr double kBoxSide = 1.92;

    // False when the landmarks are too small or too far from the detector's box to place a
    // better one: the first fit stands.
    static bool box_for_landmarks(const full_object_detection &s, const rectangle &detected, rectangle &out) {
        auto mid = [&](unsigned long a, unsigned long b) {
            return dlib::vector<double, 2>((s.part(a).x() + s.part(b).x()) / 2.0, (s.part(a).y() + s.part(b).y()) / 2.0);
        };
        const dlib::vector<double, 2> right_eye = mid(0, 1), left_eye = mid(2, 3);
        const dlib::vector<double, 2> eyes = (right_eye + left_eye) / 2.0;
        const dlib::vector<double, 2> nose(s.part(4).x(), s.part(4).y());
        const double scale = length(eyes - nose) + 0.5 * length(right_eye - left_eye);
        const double side = kBoxSide * scale;
        const double given = static_cast<double>(std::max(detected.width(), detected.height()));
        if (scale < 4.0 || side < 0.6 * given || side > 1.6 * given) return false;
        const double cx = eyes.x(), cy = eyes.y() + kBoxBelowEyes * scale;
        out = rectangle(std::lround(cx - side / 2), std::lround(cy - side / 2), std::lround(cx + side / 2) - 1, std::lround(cy + side / 2) - 1);
        // Far off the given box means the first fit went astray (a partial face at the edge).
        const point c = center(detected);
        if (std::abs(c.x() - cx) > 0.5 * given || std::abs(c.y() - cy) > 0.5 * given) return false;
        return true;
    }

    template <typename Image>
    matrix<rgb_pixel> chip(const Image &img, const cdf_face &face) {
        matrix<rgb_pixel> out;
        extract_image_chip(img, get_face_chip_details(to_shape(face), kChipSize, kChipPadding), out);
        return out;
    }

    void embed(std::vector<matrix<rgb_pixel>> &chips, float *out) {
        std::vector<matrix<float, 0, 1>> vectors = recognition(chips, 16);
        for (size_t i = 0; i < vectors.size(); ++i) {
            if (vectors[i].size() != CDF_EMBEDDING_DIM) fail(CDF_ERR_MODEL, "the recognition network did not produce 128 values");
            std::memcpy(out + i * CDF_EMBEDDING_DIM, &vectors[i](0), CDF_EMBEDDING_DIM * sizeof(float));
        }
    }
};

extern "C" {

cdf_engine *cdf_engine_create(const char *shape_predictor_path, const char *recognition_net_path,
                              const char *mmod_detector_path, cdf_error *err) {
    cdf_engine *engine = nullptr;
    int32_t status = guarded(err, [&] {
        std::unique_ptr<cdf_engine> e(new cdf_engine());
        load_model(e->landmarks, shape_predictor_path, "5-point shape predictor");
        if (e->landmarks.num_parts() != 5) {
            fail(CDF_ERR_MODEL, std::string("the shape predictor at ") + shape_predictor_path + " has " +
                                    std::to_string(e->landmarks.num_parts()) + " points; the 5-point model is required");
        }
        load_model(e->recognition, recognition_net_path, "face recognition network");
        if (mmod_detector_path && *mmod_detector_path) {
            e->cnn.reset(new mmod_net());
            load_model(*e->cnn, mmod_detector_path, "MMOD face detector");
        }
        engine = e.release();
    });
    return status == CDF_OK ? engine : nullptr;
}

void cdf_engine_destroy(cdf_engine *engine) {
    try { delete engine; } catch (...) {}
}

int32_t cdf_engine_has_cnn(const cdf_engine *engine) { return engine && engine->cnn ? 1 : 0; }

int32_t cdf_detect(cdf_engine *engine, cdf_image image, cdf_detector detector, int32_t upsample,
                   int32_t min_size, cdf_face *out, int32_t capacity, int32_t *count, int32_t with_landmarks, cdf_error *err) {
    if (count) *count = 0;
    bool truncated = false;
    int32_t status = guarded(err, [&] {
        if (!engine || !count || (capacity > 0 && !out) || capacity < 0) fail(CDF_ERR_ARGUMENT, "null engine or output");
        if (upsample < 0 || upsample > 4) fail(CDF_ERR_ARGUMENT, "upsample must be between 0 and 4");
        if (detector == CDF_DETECTOR_CNN && !engine->cnn) {
            fail(CDF_ERR_UNAVAILABLE, "the CNN detector was not loaded (no MMOD model given)");
        }
        matrix<rgb_pixel> img = to_matrix(image);
        matrix<rgb_pixel> scaled = img;
        pyramid_down<2> pyramid;
        for (int i = 0; i < upsample; ++i) pyramid_up(scaled, pyramid);

        std::vector<cdf_face> found;
        auto keep = [&](const rectangle &scaled_box, double score) {
            rectangle box = scaled_box;
            if (upsample > 0) box = pyramid.rect_down(scaled_box, upsample);
            // Clip to the image: dlib may report boxes that overhang the border.
            box = box.intersect(get_rect(img));
            if (box.is_empty() || static_cast<int32_t>(box.width()) < min_size) return;
            cdf_face face{};
            face.left = box.left(); face.top = box.top(); face.right = box.right(); face.bottom = box.bottom();
            face.score = static_cast<float>(score);
            found.push_back(face);
        };
        if (detector == CDF_DETECTOR_CNN) {
            for (const mmod_rect &d : (*engine->cnn)(scaled)) keep(d.rect, d.detection_confidence);
        } else {
            std::vector<rect_detection> dets;
            engine->hog(scaled, dets, 0.0);
            for (const rect_detection &d : dets) keep(d.rect, d.detection_confidence);
        }
        // Best first; ties keep the detector's order (the index breaks them) so output is stable.
        std::vector<size_t> order(found.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return found[a].score != found[b].score ? found[a].score > found[b].score : a < b;
        });
        std::vector<cdf_face> sorted;
        for (size_t i : order) sorted.push_back(found[i]);
        found.swap(sorted);
        *count = static_cast<int32_t>(found.size());
        size_t n = std::min(found.size(), static_cast<size_t>(capacity));
        for (size_t i = 0; i < n; ++i) {
            if (with_landmarks) engine->fit_landmarks(img, found[i]);
            out[i] = found[i];
        }
        truncated = n < found.size();
    });
    if (status == CDF_OK && truncated) {
        set_error(err, CDF_ERR_CAPACITY, "more faces were found than the output can hold");
        return CDF_ERR_CAPACITY;
    }
    return status;
}

int32_t cdf_landmarks(cdf_engine *engine, cdf_image image, cdf_face *face, cdf_error *err) {
    return guarded(err, [&] {
        if (!engine || !face) fail(CDF_ERR_ARGUMENT, "null engine or face");
        if (face->right < face->left || face->bottom < face->top) fail(CDF_ERR_ARGUMENT, "face box is empty");
        engine->fit_landmarks(view_of(image), *face);
    });
}

int32_t cdf_aligned_chip(cdf_engine *engine, cdf_image image, const cdf_face *face, uint8_t *out_chip,
                         cdf_error *err) {
    return guarded(err, [&] {
        if (!engine || !face || !out_chip) fail(CDF_ERR_ARGUMENT, "null engine, face or output");
        matrix<rgb_pixel> chip = engine->chip(view_of(image), *face);
        for (long r = 0; r < chip.nr(); ++r) {
            for (long c = 0; c < chip.nc(); ++c) {
                uint8_t *p = out_chip + (r * kChipSize + c) * 3;
                p[0] = chip(r, c).red; p[1] = chip(r, c).green; p[2] = chip(r, c).blue;
            }
        }
    });
}

int32_t cdf_embed(cdf_engine *engine, cdf_image image, const cdf_face *faces, int32_t n, float *out,
                  cdf_error *err) {
    return guarded(err, [&] {
        if (!engine || (n > 0 && (!faces || !out)) || n < 0) fail(CDF_ERR_ARGUMENT, "null engine, faces or output");
        if (n == 0) return;
        const rgb_view img = view_of(image);
        std::vector<matrix<rgb_pixel>> chips;
        chips.reserve(n);
        for (int32_t i = 0; i < n; ++i) chips.push_back(engine->chip(img, faces[i]));
        engine->embed(chips, out);
    });
}

int32_t cdf_embed_chips(cdf_engine *engine, const uint8_t *chips, int32_t n, float *out, cdf_error *err) {
    return guarded(err, [&] {
        if (!engine || (n > 0 && (!chips || !out)) || n < 0) fail(CDF_ERR_ARGUMENT, "null engine, chips or output");
        std::vector<matrix<rgb_pixel>> batch(n);
        for (int32_t i = 0; i < n; ++i) {
            cdf_image chip{chips + static_cast<size_t>(i) * kChipSize * kChipSize * 3,
                           static_cast<int32_t>(kChipSize), static_cast<int32_t>(kChipSize),
                           static_cast<int32_t>(kChipSize * 3)};
            batch[i] = to_matrix(chip);
        }
        if (n > 0) engine->embed(batch, out);
    });
}

}  // extern "C"

struct cdf_shape68 {
    shape_predictor predictor;
};

extern "C" {

cdf_shape68 *cdf_shape68_create(const char *shape_predictor_68_path, cdf_error *err) {
    cdf_shape68 *out = nullptr;
    int32_t status = guarded(err, [&] {
        std::unique_ptr<cdf_shape68> p(new cdf_shape68());
        load_model(p->predictor, shape_predictor_68_path, "68-point shape predictor");
        if (p->predictor.num_parts() != 68) fail(CDF_ERR_MODEL, std::string("the shape predictor at ") + shape_predictor_68_path + " has " + std::to_string(p->predictor.num_parts()) + " points, not 68");
        out = p.release();
    });
    return status == CDF_OK ? out : nullptr;
}

void cdf_shape68_destroy(cdf_shape68 *predictor) { delete predictor; }

int32_t cdf_shape68_fit(cdf_shape68 *predictor, cdf_image image, int32_t left, int32_t top, int32_t right, int32_t bottom,
                        float *out136, cdf_error *err) {
    return guarded(err, [&] {
        if (!predictor || !out136) fail(CDF_ERR_ARGUMENT, "null predictor or output");
        if (right < left || bottom < top) fail(CDF_ERR_ARGUMENT, "face box is empty");
        full_object_detection shape = predictor->predictor(view_of(image), rectangle(left, top, right, bottom));
        if (shape.num_parts() != 68) fail(CDF_ERR_INTERNAL, "the shape predictor did not give 68 points");
        for (unsigned long i = 0; i < 68; ++i) {
            out136[2 * i] = static_cast<float>(shape.part(i).x());
            out136[2 * i + 1] = static_cast<float>(shape.part(i).y());
        }
    });
}

}  // extern "C"
