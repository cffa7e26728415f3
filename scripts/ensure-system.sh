#!/usr/bin/env bash
# Installs the Debian packages the app needs when they are missing: libportaudio2 (audio output), npm
# (the pack build fetches the rich pack's 54 voices, the npm package kokoro-js, with `npm pack`) and,
# with the argument `venv`, python3-venv; with `test`, also tmux (the tests drive the app in a real
# terminal), codec2-examples (phone-band speech the enrollment checks are tested on), strace (the
# network guard's test watches onnxruntime's own threads) and speech-dispatcher (its output module's
# tests run the real one). As root it runs
# apt-get; otherwise it says what to install.
set -eu
want=()
if [ "${1:-}" = venv ]; then
  want+=("python3-venv")
  v=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || true)
  [ -n "$v" ] && want+=("python$v-venv")
else
  if ! ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2'; then want+=("libportaudio2"); fi
  if ! command -v npm >/dev/null; then want+=("npm"); fi
  if [ "${1:-}" = test ] && ! command -v tmux >/dev/null; then want+=("tmux"); fi
  if [ "${1:-}" = test ] && ! command -v strace >/dev/null; then want+=("strace"); fi
  # The speech-dispatcher module's tests start Debian's speech-dispatcher and speak with spd-say.
  if [ "${1:-}" = test ] && ! command -v speech-dispatcher >/dev/null; then want+=("speech-dispatcher"); fi
  # Real telephone-band speech for the enrollment checks' tests (LGPL-2.1 sample files, no code used).
  if [ "${1:-}" = test ] && [ ! -d /usr/share/codec2/wav ]; then want+=("codec2-examples"); fi
fi
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Missing system packages: ${want[*]}. Install them with: sudo apt-get install ${want[*]}" >&2
  # Audio output needs PortAudio, but reading, WAV export and most tests work without it: go on. Without
  # npm the pack build stops at the rich pack and says so.
  [ "${1:-}" = venv ] && exit 1 || exit 0
fi
echo "Installing ${want[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# python3.X-venv may not exist under that name on every release; install what is available.
for p in "${want[@]}"; do apt-get install -y -qq "$p" >/dev/null 2>&1 || true; done
if [ "${1:-}" != venv ] && ! ldconfig -p | grep -q 'libportaudio\.so\.2'; then
  echo "Could not install libportaudio2; audio output will not work until it is installed." >&2
fi
if [ "${1:-}" != venv ] && ! command -v npm >/dev/null; then
  echo "Could not install npm; the pack build needs it to fetch the rich pack's voices (kokoro-js)." >&2
fi
