#!/usr/bin/env bash
# Installs the system packages nmre's tests and demo need on Debian/Ubuntu.
# Used by the README quick start (through the Makefile) and by .ci/run.
#   libportaudio2      - PortAudio for sounddevice (audio feedback)
#   libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libxcb-cursor0
#                      - what PySide6 needs to render offscreen
#   xvfb libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-image0 libxcb-render-util0 libxcb-shape0
#                      - a virtual screen for GUI tests and the studio benchmark that need a real (X11) window
#   jackd2             - JACK's dummy driver: a paced audio output without a sound card (studio benchmark)
#   poppler-utils      - pdftoppm: report tests render the PDF pages to PNG and check them
#   postgresql openssl - a real PostgreSQL server (and a TLS certificate) for the shared-store tests;
#                        the tests start their own server as the postgres user, on a free port
#   python3-venv       - only when the python3 in use cannot make a venv (Debian's own python3)
set -euo pipefail
pkgs=(libportaudio2 libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libxcb-cursor0 xvfb poppler-utils postgresql openssl
      libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-image0 libxcb-render-util0 libxcb-shape0 jackd2)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! "${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-system: missing system packages ${missing[*]} and no apt-get here; install them by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-system: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
