#!/usr/bin/env bash
# Screenshots of the real desktop app, driven as a person would: under Xvfb, xdotool
# types a query into the query box and presses Enter, then moves the selection with
# the arrow keys; ImageMagick's `import` saves the screen to screenshots/*.png.
#
#   scripts/screenshots.sh                 # the embedded demo (assets/)
#   RELEX_UI_MODEL=tests/data/tiny-ce RELEX_UI_ITEMS=items.jsonl scripts/screenshots.sh
#
# Needs: apt-get install -y xvfb xdotool imagemagick
# Env: RELEX_BIN (default target/release/relex, built if missing), QUERY (the typed
# query), BUDGET / K_I (CE budget and ANNCUR anchor items typed into the search
# settings, default 200 / 50), WAIT_LOAD /
# WAIT_APPROX / WAIT_STREAM / WAIT_EXACT (seconds), OUT (default screenshots).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-screenshots}
BIN=${RELEX_BIN:-target/release/relex}
QUERY=${QUERY:-he sat on the [bank] and watched the river}
WAIT_LOAD=${WAIT_LOAD:-40}
WAIT_APPROX=${WAIT_APPROX:-10}
WAIT_STREAM=${WAIT_STREAM:-45}
WAIT_EXACT=${WAIT_EXACT:-150}
BUDGET=${BUDGET:-200}
BUDGET_X=${BUDGET_X:-257}
BUDGET_Y=${BUDGET_Y:-39}
K_I=${K_I:-50}
KI_X=${KI_X:-407}
KI_Y=${KI_Y:-39}
SIZE=${SIZE:-1600x1000}

for tool in Xvfb xdotool import; do
    if ! command -v "$tool" >/dev/null; then
        echo "missing $tool: apt-get install -y xvfb xdotool imagemagick" >&2
        exit 1
    fi
done
if [ ! -x "$BIN" ]; then
    cargo build --release
fi
mkdir -p "$OUT"

# A display nobody uses, and a throwaway storage dir (no recent files from earlier runs).
DISP=${RELEX_DISPLAY:-:$((90 + RANDOM % 9))}
STATE=$(mktemp -d)
LOG="$STATE/relex.log"
Xvfb "$DISP" -screen 0 "${SIZE}x24" -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
APP=
cleanup() {
    [ -n "$APP" ] && kill "$APP" 2>/dev/null || true
    kill "$XVFB" 2>/dev/null || true
    rm -rf "$STATE"
}
trap cleanup EXIT
export DISPLAY=$DISP
# Wait for the X server (slow to start on a busy machine).
for _ in $(seq 1 30); do
    [ -S "/tmp/.X11-unix/X${DISP#:}" ] && xdotool getdisplaygeometry >/dev/null 2>&1 && break
    sleep 1
done

XDG_DATA_HOME="$STATE" HOME="$STATE" LIBGL_ALWAYS_SOFTWARE=1 "$BIN" >"$LOG" 2>&1 &
APP=$!

# The window, full screen.
WIN=
for _ in $(seq 1 60); do
    WIN=$(xdotool search --name "relex" 2>/dev/null | head -1 || true)
    [ -n "$WIN" ] && break
    sleep 1
done
if [ -z "$WIN" ]; then
    echo "the window did not appear; app log:" >&2
    cat "$LOG" >&2
    exit 1
fi
W=${SIZE%x*}
H=${SIZE#*x}
xdotool windowmove "$WIN" 0 0 windowsize "$WIN" "$W" "$H" || true
xdotool windowactivate "$WIN" 2>/dev/null || xdotool windowfocus "$WIN" || true

# Wait for the model, items and (for the demo) the ANNCUR index: the status bar shows
# "N items" once loaded. There is no way to read the window's text from here, so wait a
# fixed time (the demo model loads in a few seconds).
# Park the pointer over the empty left panel (no row tooltip in the shot).
xdotool mousemove 150 700
sleep "$WAIT_LOAD"
import -window root "$OUT/00-loaded.png"

# Search settings. A fresh storage dir starts on ANNCUR (TF-IDF stands in only while no
# index is loaded; the demo loads assets/demo/index). Set the CE budget: a click on its
# drag value turns it into a text box; select all, type, Enter. Typing "200" passes
# through "2", which clamps k_i (range 1..=budget), so set k_i after the budget.
# Coordinates assume the default layout at 1600 px wide.
set_drag_value() { # x y value
    xdotool mousemove "$1" "$2" click 1
    sleep 0.5
    xdotool key ctrl+a
    xdotool type --delay 60 "$3"
    xdotool key Return
    sleep 0.5
}
set_drag_value "$BUDGET_X" "$BUDGET_Y" "$BUDGET"
set_drag_value "$KI_X" "$KI_Y" "$K_I"

# The query box: click it, then type.
xdotool mousemove 300 18 click 1
sleep 0.3
xdotool type --delay 40 "$QUERY"
sleep 0.5
import -window root "$OUT/01-query-typed.png"
xdotool key Return
sleep "$WAIT_APPROX"
import -window root "$OUT/02-anncur-approximate-exact-streaming.png"

# Exact scores keep streaming in: a snapshot part way.
sleep "$WAIT_STREAM"
import -window root "$OUT/03-exact-streaming.png"

# Let exact scoring finish (or time out), then pick a row with the keyboard: the right
# panel shows its per-item convergence plot.
sleep "$WAIT_EXACT"
xdotool mousemove 900 600 click 1
sleep 0.3
xdotool key Down Down Down
sleep 2
import -window root "$OUT/04-exact-complete-selected-item.png"

# Hover a row for its full text.
xdotool mousemove 700 200
sleep 1.5
import -window root "$OUT/05-row-hover.png"
echo "saved: $(ls "$OUT"/*.png | tr '\n' ' ')"
