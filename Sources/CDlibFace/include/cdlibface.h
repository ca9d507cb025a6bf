// CDlibFace: the C face engine over dlib.
//
// Every function returns a status code and, on failure, fills a caller-owned error with a
// message a person can act on. No C++ exception crosses this boundary.
//
// Thread safety: an engine is NOT thread-safe. dlib's networks keep per-forward-pass state
// (layer outputs and scratch buffers), and the HOG detector caches its feature pyramid, so
// two threads must never call into one engine at once. Give each worker thread its own
// engine (they are independent; the model files are read once per engine), or serialise
// calls with a lock. Distinct engines may be used from distinct threads concurrently.
// One exception, which the door's two-stage inference relies on: detection and landmarks
// (cdf_detect, cdf_landmarks: the HOG detector and the shape predictor) and embedding
// (cdf_embed, cdf_aligned_chip: chip extraction and the recognition network) use disjoint
// parts of an engine, so one thread may detect while one other embeds. Never two threads
// detecting, or two embedding, at once; the CNN detector counts as detection.
#ifndef CDLIBFACE_H
#define CDLIBFACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CDF_OK = 0,
    CDF_ERR_ARGUMENT = 1,   // a bad argument (null pointer, bad size, out of range)
    CDF_ERR_MODEL = 2,      // a model file is missing, unreadable or corrupt
    CDF_ERR_NO_MEMORY = 3,  // allocation failed
    CDF_ERR_INTERNAL = 4,   // dlib raised something unexpected
    CDF_ERR_CAPACITY = 5,   // the output array was too small (count says how many exist)
    CDF_ERR_UNAVAILABLE = 6 // the feature needs a model that was not loaded
} cdf_status;

typedef struct {
    int32_t code;
    char message[512];
} cdf_error;

typedef struct cdf_engine cdf_engine;

// A packed 8-bit RGB image, row-major; stride is the bytes per row (>= width * 3).
typedef struct {
    const uint8_t *pixels;
    int32_t width;
    int32_t height;
    int32_t stride;
} cdf_image;

// One detected face: its box in image pixels (right/bottom inclusive, as dlib's rectangle),
// the detector's confidence, and dlib's 5-point landmarks as x,y pairs in this order:
// right eye outer corner, right eye inner, left eye outer, left eye inner, nose base,
// where right and left are as seen in the image (the right eye has the larger x).
typedef struct {
    int32_t left, top, right, bottom;
    float score;
    float landmarks[10];
} cdf_face;

typedef enum { CDF_DETECTOR_HOG = 0, CDF_DETECTOR_CNN = 1 } cdf_detector;

// Dimension of one embedding and side of one aligned chip.
#define CDF_EMBEDDING_DIM 128
#define CDF_CHIP_SIZE 150
// How many times landmarks are fitted again from the box their last fit implies (see
// fit_landmarks in cdlibface.cpp). Embeddings cached across runs depend on it.
#define CDF_LANDMARK_REFITS 2

// Loads the models. `mmod_detector_path` may be NULL: the CNN detector is then unavailable.
// Returns NULL and fills `err` on failure.
cdf_engine *cdf_engine_create(const char *shape_predictor_path,
                              const char *recognition_net_path,
                              const char *mmod_detector_path,
                              cdf_error *err);
void cdf_engine_destroy(cdf_engine *engine);

// 1 when the CNN detector was loaded.
int32_t cdf_engine_has_cnn(const cdf_engine *engine);

// Detects faces and fits 5-point landmarks to each. `upsample` doubles the image that many
// times before detection (finds smaller faces, costs ~4x per step); faces whose box is
// narrower than `min_size` pixels are dropped. Writes up to `capacity` faces, best score
// first; `*count` gets the number found. When more were found than fit, the best `capacity`
// are written and CDF_ERR_CAPACITY is returned. `with_landmarks` 0 leaves the landmarks at
// zero, for a caller that fits them on another image (a shrunk copy's boxes, scaled back).
int32_t cdf_detect(cdf_engine *engine, cdf_image image, cdf_detector detector,
                   int32_t upsample, int32_t min_size,
                   cdf_face *out, int32_t capacity, int32_t *count, int32_t with_landmarks, cdf_error *err);

// Fits 5-point landmarks inside a given box (left/top/right/bottom of `face`), writing
// them into `face->landmarks`. As in cdf_detect, the fit is repeated from the box the
// detector would place around the first fit's landmarks, so they depend little on the box.
int32_t cdf_landmarks(cdf_engine *engine, cdf_image image, cdf_face *face, cdf_error *err);

// Writes the aligned 150x150 RGB chip (packed, 150*150*3 bytes) for a face with landmarks,
// using dlib's face-recognition alignment (150 px, padding 0.25).
int32_t cdf_aligned_chip(cdf_engine *engine, cdf_image image, const cdf_face *face,
                         uint8_t *out_chip, cdf_error *err);

// Computes embeddings for `n` faces of one image in one batched forward pass. Writes
// n * 128 floats (dlib's raw vectors, not normalised).
int32_t cdf_embed(cdf_engine *engine, cdf_image image, const cdf_face *faces, int32_t n,
                  float *out, cdf_error *err);

// Computes embeddings for `n` ready-aligned 150x150 chips, packed back to back.
int32_t cdf_embed_chips(cdf_engine *engine, const uint8_t *chips, int32_t n,
                        float *out, cdf_error *err);

// dlib's 68-point shape predictor (iBUG 300-W layout), for the five points another
// recognition model aligns by: eye centres (means of points 36-41 and 42-47), the nose tip
// (30) and the mouth corners (48, 54).
typedef struct cdf_shape68 cdf_shape68;

cdf_shape68 *cdf_shape68_create(const char *shape_predictor_68_path, cdf_error *err);
void cdf_shape68_destroy(cdf_shape68 *predictor);

// Fits the 68 points inside the box (left, top, right, bottom; inclusive) and writes 136
// floats: x, y of each point in image pixels.
int32_t cdf_shape68_fit(cdf_shape68 *predictor, cdf_image image, int32_t left, int32_t top, int32_t right, int32_t bottom,
                        float *out136, cdf_error *err);

#ifdef __cplusplus
}
#endif

#endif
