#!/usr/bin/env bash
# Hardware-in-the-loop: runs the real `warden run` against the kernel's gpio-sim (GPIO)
# and vivid (V4L2) drivers in a Debian kernel booted under qemu (software emulation), then
# checks the audit trail the guest exported. `make hil` calls this; docs/testing.md
# explains it. Exit status: 0 when every scenario passed, 1 otherwise.
#
# Everything downloaded or built lives in .cache/hil (outside git): the kernel packages,
# the gpio-sim module built from the matching linux-source, the initramfs, and the share
# the guest mounts over 9p (the warden binary and its libraries, models, test frames, an
# enrolled home). Nothing is installed on the host but qemu and busybox-static; the kernel
# is unpacked, never installed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${WARDEN_HIL_CACHE:-$REPO/.cache/hil}
TIMEOUT=${WARDEN_HIL_TIMEOUT:-1800}   # the VM; a one-CPU guest took 1040 s (docs/testing.md)
SWIFT=${SWIFT:-swift}
HIL=$REPO/hardware/hil
STAGE=$CACHE/share
OUT=$STAGE/out
started=$(date +%s)
say() { printf 'hil [%4ds] %s\n' $(($(date +%s) - started)) "$*"; }
die() { echo "hil: FAIL: $*" >&2; exit 1; }
mkdir -p "$CACHE/debs"

# 1. Host tools. qemu without recommends (~17 MB); busybox-static is the guest's userland.
need=()
for p in qemu-system-x86 busybox-static v4l-utils ffmpeg; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. The kernel, its headers and its source, as Debian ships them (resolved each run: the
#    ABI name, 6.1.0-N, drifts as Debian updates).
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
KVER=${KPKG#linux-image-}
KDEB=$(apt-cache show "$KPKG" | awk '/^Version:/ {print $2; exit}')
say "kernel $KVER (Debian $KDEB)"
fetch() {   # fetch PACKAGE[=VERSION]: downloads the .deb into the cache unless it is there
    local name=${1%%=*}
    ls "$CACHE/debs/${name}_"*.deb >/dev/null 2>&1 && return 0
    (cd "$CACHE/debs" && apt-get download "$1" >/dev/null 2>&1) || (cd "$CACHE/debs" && apt-get download "$name" >/dev/null)
}
for p in "$KPKG" "linux-headers-$KVER" "linux-headers-${KVER%-amd64}-common" linux-kbuild-6.1 "linux-source-6.1=$KDEB"; do fetch "$p"; done
KROOT=$CACHE/root-$KVER
if [ ! -f "$KROOT/.done" ]; then
    say "unpacking the kernel and headers"
    rm -rf "$KROOT"; mkdir -p "$KROOT"
    for d in "$CACHE/debs/$KPKG"_*.deb "$CACHE/debs/linux-headers-"*.deb "$CACHE/debs/linux-kbuild-6.1_"*.deb; do dpkg-deb -x "$d" "$KROOT"; done
    # The headers' Makefile includes the common tree by absolute path; point it inside the cache.
    sed -i 's#^include /usr/src/#include $(dir $(lastword $(MAKEFILE_LIST)))../#' "$KROOT/usr/src/linux-headers-$KVER/Makefile"
    touch "$KROOT/.done"
fi

# 3. gpio-sim is not built in Debian's kernels: build it out of tree from the matching
#    source, with the IRQ simulator it needs compiled into the same module.
MOD=$CACHE/gpio-sim-$KVER
if [ ! -f "$MOD/gpio-sim-hil.ko" ]; then
    say "building gpio-sim for $KVER"
    rm -rf "$MOD"; mkdir -p "$MOD"
    dpkg-deb --fsys-tarfile "$CACHE/debs/linux-source-6.1_"*.deb | tar -x -O ./usr/src/linux-source-6.1.tar.xz \
        | tar -xJ -C "$MOD" --strip-components=3 linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h linux-source-6.1/kernel/irq/irq_sim.c
    # irq_to_desc is not exported to modules; generic_handle_irq does the same here.
    sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$MOD/irq_sim.c"
    grep -q 'generic_handle_irq(irqnum)' "$MOD/irq_sim.c" || die "irq_sim.c changed upstream; update the patch in $0"
    printf 'obj-m := gpio-sim-hil.o\ngpio-sim-hil-objs := gpio-sim.o irq_sim.o\n' > "$MOD/Kbuild"
    make -s -C "$KROOT/usr/src/linux-headers-$KVER" M="$MOD" modules >"$MOD/build.log" 2>&1 || { cat "$MOD/build.log"; die "gpio-sim build failed"; }
fi

# 4. The programs: warden (release, portable CPU baseline: TCG lacks some host
#    instructions), v4l2-ctl, and the Wiegand pulse helper, with every library ldd lists.
say "building warden (release)"
(cd "$REPO" && $SWIFT build -c release --product warden 2>&1 | grep -E "error|warning: unre" || true)
[ -x "$REPO/.build/release/warden" ] || die "release build failed"
rm -rf "$STAGE"; mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/models" "$STAGE/frames" "$OUT" "$STAGE/hardware"
cp "$REPO/.build/release/warden" "$(command -v v4l2-ctl)" "$STAGE/bin/"
gcc -O2 -static -o "$STAGE/bin/hil-pulse" "$HIL/pulse.c"
for b in "$STAGE/bin/warden" "$STAGE/bin/v4l2-ctl"; do
    ldd "$b" | awk '/=> \// {print $3} /^\t\/lib64/ {print $1}' | while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done
done
# dlib's three: the guest copies these into RAM, so not the 68-point predictor (100 MB) the
# second model aligns by, which the HIL site does not use.
for m in shape_predictor_5_face_landmarks.dat dlib_face_recognition_resnet_model_v1.dat mmod_human_face_detector.dat; do cp "$REPO/models/$m" "$STAGE/models/"; done
cp -r "$HIL" "$REPO/hardware/pinmaps" "$STAGE/hardware/"
[ -n "${WARDEN_HIL_GUEST_SCRIPT:-}" ] && cp "$WARDEN_HIL_GUEST_SCRIPT" "$STAGE/guest-script.sh"

# 5. Test data: Obama enrolled from one fixture photo and shown to the camera from
#    another; Biden is the stranger. Frames are 640x480 RGB24, the face cropped to about a
#    third of the frame, with a little per-frame noise (identical frames read as a frozen
#    camera). "idle" is an empty, noisy scene.
# The data directory and the models by environment: every command takes them that way,
# and only the commands that load models have a --models option.
wd() { WARDEN_HOME="$STAGE/home" WARDEN_MODELS="$STAGE/models" "$STAGE/bin/warden" "$@"; }
F=$REPO/fixtures/test_images
[ -f "$F/obama.jpg" ] || die "fixtures missing: run make setup"
frames() {   # frames NAME PHOTO
    local box
    box=$(wd faces detect "$2" --json | python3 -c '
import json, sys
b = json.load(sys.stdin)[0]["faces"][0]["box"]
s = int(max(b["width"], b["height"]) * 2.6); cx = b["left"] + b["width"] // 2; cy = b["top"] + b["height"] // 2
print(s, s, max(0, cx - s // 2), max(0, cy - s // 2))')
    read -r w h x y <<<"$box"
    ffmpeg -v error -y -loop 1 -i "$2" -vf "crop=min($w\,iw-$x):min($h\,ih-$y):$x:$y,scale=-2:440,pad=640:480:(ow-iw)/2:(oh-ih)/2:gray,noise=alls=6:allf=t" \
        -frames:v 12 -pix_fmt rgb24 -f rawvideo "$STAGE/frames/$1.rgb"
}
frames enrolled "$F/obama2.jpg"
frames stranger "$F/biden.jpg"
ffmpeg -v error -y -f lavfi -i "color=c=0x707070:s=640x480,noise=alls=20:allf=t+u" -frames:v 12 -pix_fmt rgb24 -f rawvideo "$STAGE/frames/idle.rgb"
POLICY=$HIL/policy
wd person add "Barack Obama" --json >/dev/null
wd group add "Barack Obama" staff --policy "$POLICY" >/dev/null
wd enroll "Barack Obama" "$F/obama.jpg" >/dev/null
wd badge issue "Barack Obama" 12:1001 >/dev/null
say "staged: $(du -sh "$STAGE" | cut -f1) (warden $(du -h "$STAGE/bin/warden" | cut -f1), $(ls "$STAGE/lib" | wc -l) libraries)"

# 6. The initramfs: busybox, init, and only the modules the guest loads (with their
#    dependencies), plus gpio-sim.
INITRD=$CACHE/initramfs
rm -rf "$INITRD"; mkdir -p "$INITRD/bin" "$INITRD/lib/modules/$KVER/extra"
cp /bin/busybox "$INITRD/bin/busybox"
cp "$HIL/guest/init" "$INITRD/init"; chmod +x "$INITRD/init"
KMODS=$KROOT/lib/modules/$KVER
[ -f "$KMODS/modules.dep" ] || busybox depmod -b "$KROOT" "$KVER"
for m in configfs vivid 9p 9pnet_virtio virtio_pci; do
    grep -E "/$m\.ko:" "$KMODS/modules.dep" | tr -d ':' | tr ' ' '\n'
done | sort -u | while read -r ko; do
    [ -n "$ko" ] && mkdir -p "$INITRD/lib/modules/$KVER/$(dirname "$ko")" && cp "$KMODS/$ko" "$INITRD/lib/modules/$KVER/$ko"
done
cp "$MOD/gpio-sim-hil.ko" "$INITRD/lib/modules/$KVER/extra/"
cp "$KMODS/modules.builtin" "$KMODS/modules.order" "$INITRD/lib/modules/$KVER/"
busybox depmod -b "$INITRD" "$KVER"
(cd "$INITRD" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 > "$CACHE/initrd.gz"

# 7. Boot. TCG, not KVM (KVM hangs on this kind of machine). The guest reports through
#    isa-debug-exit: it writes 0 for pass, which qemu turns into exit status 1.
say "booting $KVER under qemu (TCG); console in $OUT/console.log"
set +e
# WARDEN_HIL_SMP=1 gives the guest one CPU: about half the speed, to show that the waits
# follow the guest's progress (docs/testing.md has the figures).
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp "${WARDEN_HIL_SMP:-2}" -m 2048 \
    -nographic -no-reboot -monitor none -serial stdio \
    -kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$CACHE/initrd.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
    -virtfs "local,path=$STAGE,mount_tag=hostshare,security_model=none,id=hostshare" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null 2>&1 | tee "$OUT/console.log" | grep --line-buffered -E '^(hil|HIL):'
qemu=${PIPESTATUS[0]}
set -e
say "qemu exited $qemu"
grep '^HIL: ' "$OUT/console.log" >"$OUT/results.txt" || true
if [ "$qemu" = 124 ] || [ "$qemu" = 137 ]; then die "the VM did not finish within ${TIMEOUT}s (see $OUT/console.log)"; fi
[ "$qemu" = 1 ] && grep -q '^HIL: ALL PASS' "$OUT/console.log" || die "scenarios failed (qemu exit $qemu):
$(grep '^HIL: ' "$OUT/console.log")"

# 8. The audit trail the guest wrote: chain intact, and the events each scenario must leave.
"$STAGE/bin/warden" audit verify --home "$OUT/home" || die "the guest's audit chain does not verify"
python3 "$HIL/check-audit.py" "$OUT/audit.jsonl" || die "audit trail is missing expected events"
say "PASS: $(grep -c '^HIL: PASS' "$OUT/console.log") scenarios, audit verified"
