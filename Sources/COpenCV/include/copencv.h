// COpenCV: the C face engines over OpenCV's DNN and objdetect modules.
//
// Presentation-attack detection with the MiniFASNetV2 + MiniFASNetV1SE pair, and the small
// RetinaFace detector whose boxes that pair was trained on (used to measure framing); the
// SFace recognition network and the YuNet detector whose five points align its input. Every
// function returns a status code and, on failure, fills a caller-owned error with a message
// a person can act on. No C++ exception crosses this boundary.
//
// Thread safety: an engine is NOT thread-safe (an OpenCV Net keeps its blobs between
// passes). Give each thread its own engine. OpenCV's own worker pool is process-wide; its
// size is set once with `cocv_set_threads`.
#ifndef COPENCV_H
#define COPENCV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    COCV_OK = 0,
    COCV_ERR_ARGUMENT = 1,   // a bad argument (null pointer, bad size, a box outside the image)
    COCV_ERR_MODEL = 2,      // a model file is missing, unreadable, corrupt or of the wrong kind
    COCV_ERR_NO_MEMORY = 3,  // allocation failed
    COCV_ERR_INTERNAL = 4    // OpenCV raised something unexpected
} cocv_status;

typedef struct {
    int32_t code;
    char message[512];
} cocv_error;

// A packed 8-bit RGB image, row-major; stride is the bytes per row (>= width * 3).
typedef struct {
    const uint8_t *pixels;
    int32_t width;
    int32_t height;
    int32_t stride;
} cocv_image;

// A face box in image pixels: left, top, width, height.
typedef struct {
    float x, y, width, height;
} cocv_box;

// Side of the square crop each MiniFASNet model sees.
#define COCV_PAD_INPUT 80

// The size of OpenCV's process-wide worker pool (0: OpenCV's default).
void cocv_set_threads(int32_t threads);

typedef struct cocv_pad cocv_pad;

// Loads the MiniFASNet pair: the V2 model (fed the face box scaled by `v2_scale`, 2.7
// upstream) and the V1SE model (scaled by `v1se_scale`, 4.0). Each is checked with one
// forward pass: a file that does not produce three logits for a 1x3x80x80 input is refused.
cocv_pad *cocv_pad_create(const char *v2_path, float v2_scale, const char *v1se_path, float v1se_scale, cocv_error *err);
void cocv_pad_destroy(cocv_pad *pad);

// Scores one face: crops the box scaled by each model's factor (the scale shrunk where the
// image is too small, the crop shifted to stay inside the image, as upstream does),
// resizes it to 80x80, and runs both models. Writes six probabilities: the V2 model's
// softmax (attack-print, bona fide, attack-screen: index 1 is bona fide), then V1SE's.
int32_t cocv_pad_score(cocv_pad *pad, cocv_image image, cocv_box box, float *out6, cocv_error *err);

// Writes the 80x80 RGB crop (80*80*3 bytes) model `which` (0: V2, 1: V1SE) would see.
int32_t cocv_pad_crop(cocv_pad *pad, cocv_image image, cocv_box box, int32_t which, uint8_t *out_rgb, cocv_error *err);

typedef struct cocv_retinaface cocv_retinaface;

cocv_retinaface *cocv_retinaface_create(const char *prototxt_path, const char *caffemodel_path, cocv_error *err);
void cocv_retinaface_destroy(cocv_retinaface *detector);

// The most confident face, as upstream's anti-spoofing demo finds it: the image shrunk to
// about 192x192 pixels of area, mean (104, 117, 123) subtracted in BGR order. `*found` is 0
// when no face scores above `min_confidence`.
int32_t cocv_retinaface_detect(cocv_retinaface *detector, cocv_image image, float min_confidence,
                               cocv_box *box, float *confidence, int32_t *found, cocv_error *err);

// --- SFace: face recognition (128-D) ------------------------------------------------

#define COCV_SFACE_DIM 128

typedef struct cocv_sface cocv_sface;

// Loads the SFace ONNX model through cv::FaceRecognizerSF and checks it with one pass: a
// file that does not give 128 numbers for a 112x112 face is refused.
cocv_sface *cocv_sface_create(const char *model_path, cocv_error *err);
void cocv_sface_destroy(cocv_sface *sface);

// One face's embedding, not normalised. `points10`: five (x, y) points in image pixels, in
// YuNet's order: right eye, left eye (the person's: the first is on the image's left),
// nose tip, right and left mouth corners. The face is aligned to SFace's 112x112 template
// by a similarity transform (upstream's alignCrop), then embedded.
int32_t cocv_sface_embed(cocv_sface *sface, cocv_image image, const float *points10, float *out128, cocv_error *err);

// Writes the 112x112 RGB face (112*112*3 bytes) SFace sees for those points.
int32_t cocv_sface_aligned(cocv_sface *sface, cocv_image image, const float *points10, uint8_t *out_rgb, cocv_error *err);

// --- YuNet: face detection with five points -----------------------------------------

typedef struct cocv_yunet cocv_yunet;

// Loads YuNet (the 2022mar fixed-shape export that OpenCV 4.6's FaceDetectorYN reads).
cocv_yunet *cocv_yunet_create(const char *model_path, cocv_error *err);
void cocv_yunet_destroy(cocv_yunet *yunet);

// Faces inside `region` of the image (the region is cropped, shrunk so its longer side is
// at most `max_side` pixels, and searched): up to `capacity` rows of 15 floats each, in
// image pixels: x, y, width, height, the five points as above, then the score. `*found`
// is how many rows were written, best first.
int32_t cocv_yunet_detect(cocv_yunet *yunet, cocv_image image, cocv_box region, int32_t max_side, float score_threshold,
                          float *rows15, int32_t capacity, int32_t *found, cocv_error *err);

#ifdef __cplusplus
}
#endif

#endif
