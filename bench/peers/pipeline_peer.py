#!/usr/bin/env python3
"""Reference peer for `warden bench pipeline`: face_recognition 1.3.0 doing a door's job on
each frame of an image sequence, the way its examples do it on a webcam:
  load_image_file -> face_locations(hog, upsample N) -> face_encodings(known locations)
  -> face_distance against the enrolled encodings -> nearest within tolerance 0.6.
Per-frame milliseconds, from reading the JPEG to the answer. Prints one JSON object.
"""
import argparse, glob, json, os, resource, time

import face_recognition
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", required=True, help="folder of frame JPEGs, NNNN-PERSON.jpg")
    ap.add_argument("--gallery", required=True, help="folder of enrollment JPEGs, PERSON.jpg")
    ap.add_argument("--upsample", type=int, default=0)
    a = ap.parse_args()
    names, encs = [], []
    for f in sorted(glob.glob(os.path.join(a.gallery, "*.jpg"))):
        img = face_recognition.load_image_file(f)
        e = face_recognition.face_encodings(img, model="small")
        if e:
            names.append(os.path.splitext(os.path.basename(f))[0])
            encs.append(e[0])
    gallery = np.array(encs)
    files = sorted(glob.glob(os.path.join(a.frames, "*.jpg")))
    out = {"frame_ms": [], "correct": 0, "wrong": 0, "faces": 0, "frames": 0}
    for warm in (True, False):
        for f in files:
            t = time.perf_counter()
            img = face_recognition.load_image_file(f)
            locs = face_recognition.face_locations(img, number_of_times_to_upsample=a.upsample, model="hog")
            answers = []
            if locs:
                for e in face_recognition.face_encodings(img, known_face_locations=locs, model="small"):
                    d = face_recognition.face_distance(gallery, e)
                    i = int(np.argmin(d))
                    answers.append(names[i] if d[i] <= 0.6 else None)
            ms = (time.perf_counter() - t) * 1000.0
            if warm:
                continue
            truth = os.path.splitext(os.path.basename(f))[0].split("-", 1)[1]
            out["frame_ms"].append(ms)
            out["frames"] += 1
            out["faces"] += len(locs)
            out["correct"] += sum(1 for n in answers if n == truth)
            out["wrong"] += sum(1 for n in answers if n is not None and n != truth)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
