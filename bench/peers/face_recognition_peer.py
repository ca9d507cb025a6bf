#!/usr/bin/env python3
"""Reference peer for `warden bench faces`: face_recognition 1.3.0 on dlib.

Times the same three stages on the same JPEG frames as Warden:
  decode  face_recognition.load_image_file (PIL -> numpy RGB)
  detect  face_recognition.face_locations(model="hog", number_of_times_to_upsample=N)
  embed   face_recognition.face_encodings(image, known_face_locations, model="small"),
          divided by the number of faces (the 5-point landmarks, as Warden uses)
It also times face_encodings(image) without locations, the library's most common call,
which runs detection again inside. Prints one JSON object on stdout.
"""
import argparse, glob, json, os, resource, time

import face_recognition


def ms(fn):
    t = time.perf_counter()
    r = fn()
    return r, (time.perf_counter() - t) * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--upsample", type=int, default=1)
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.dir, "*.jpg")))
    out = {"decode_ms": [], "detect_ms": [], "embed_per_face_ms": [], "embed_without_locations_ms": [], "faces": 0, "images": 0}
    for it in range(a.iterations + 1):
        for f in files:
            img, t_decode = ms(lambda: face_recognition.load_image_file(f))
            locs, t_detect = ms(lambda: face_recognition.face_locations(img, number_of_times_to_upsample=a.upsample, model="hog"))
            if it == 0:
                continue  # warm-up
            out["decode_ms"].append(t_decode)
            out["detect_ms"].append(t_detect)
            out["images"] += 1
            out["faces"] += len(locs)
            if locs:
                _, t_embed = ms(lambda: face_recognition.face_encodings(img, known_face_locations=locs, model="small"))
                out["embed_per_face_ms"].append(t_embed / len(locs))
                encs, t_naive = ms(lambda: face_recognition.face_encodings(img, model="small"))
                if encs:
                    out["embed_without_locations_ms"].append(t_naive / len(encs))
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
