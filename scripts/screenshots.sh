#!/usr/bin/env bash
# Screenshots of the real desktop app, driven as a person would: under Xvfb, xdotool
# types a query into the query box and presses Enter, then moves the selection with
# the arrow keys; ImageMagick's `import` saves the screen to screenshots/*.png.
#
#   scripts/screenshots.sh                 # the embedded demo (assets/)
#   RELEX_UI_MODEL=tests/data/tiny-ce RELEX_UI_ITEMS=items.jsonl scripts/screenshots.sh
#   scripts/screenshots.sh views           # the explorer views (06-10) on a demo slice
#
# `views` builds a 403-item slice of the demo in $MINI (default target/screenshots-mini):
# the gold senses of the first 24 test queries, titles such as bank, boat or desk, random
# others and three CJK/emoji items, with an index of 20 demo anchor queries (built once
# with `relex index build`, a few minutes), so a debug build scores every item in
# seconds; then it compares the methods, explains an item, runs 12 test queries, judges
# rows from the keyboard and diffs two snapshots.
#
# Needs: apt-get install -y xvfb xdotool imagemagick
# Env: RELEX_BIN (default target/release/relex, built if missing), QUERY (the typed
# query), BUDGET / K_I (CE budget, default 200, and ANNCUR's anchor items, typed into
# the search settings only when set and the method is ANNCUR), WAIT_LOAD /
# WAIT_APPROX / WAIT_STREAM / WAIT_EXACT (seconds), OUT (default screenshots).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-screenshots}
BIN=${RELEX_BIN:-target/release/relex}
QUERY=${QUERY:-he hit the nail with a [hammer]}
WAIT_LOAD=${WAIT_LOAD:-40}
WAIT_APPROX=${WAIT_APPROX:-10}
WAIT_STREAM=${WAIT_STREAM:-45}
WAIT_EXACT=${WAIT_EXACT:-150}
BUDGET=${BUDGET:-200}
BUDGET_X=${BUDGET_X:-257}
BUDGET_Y=${BUDGET_Y:-39}
K_I=${K_I-}
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
MODE=${1:-demo}
if [ "$MODE" = views ]; then
    MINI=${MINI:-target/screenshots-mini}
    mkdir -p "$MINI"
    python3 - "$MINI" <<'PY'
import json, random, sys
out = sys.argv[1]
items = [json.loads(l) for l in open('assets/demo/items.jsonl')]
queries = [json.loads(l) for l in open('assets/demo/test_queries.jsonl')][:24]
gold = {g for q in queries for g in q['gold']}
words = {'bank', 'boat', 'chair', 'table', 'car', 'park', 'hall', 'board', 'trunk', 'track',
         'desk', 'hammer', 'bridge', 'house', 'pen', 'river', 'dam', 'pier', 'wharf', 'building'}
keep = [it for it in items if it['id'] in gold or it.get('title', '').lower() in words]
ids = {it['id'] for it in keep}
random.seed(7)
keep += random.sample([it for it in items if it['id'] not in ids], 400 - len(keep))
keep.sort(key=lambda it: it['id'])
keep += [
    {"id": "x-chopsticks", "title": "筷子 chopsticks 🥢",
     "text": "筷子 (kuàizi), 箸 (hashi): a pair of slender sticks held in one hand and used as eating utensils 🍜"},
    {"id": "x-lantern", "title": "提灯 chōchin lantern 🏮",
     "text": "提灯: a paper lantern on a bamboo frame, hung outside shops and temples in Japan"},
    {"id": "x-abacus", "title": "算盤 soroban 🧮",
     "text": "算盤 (soroban): a Japanese abacus with one bead above and four below the bar"},
]
with open(f'{out}/items.jsonl', 'w') as f:
    f.writelines(json.dumps(it, ensure_ascii=False) + '\n' for it in keep)
with open(f'{out}/queries.jsonl', 'w') as f:
    f.writelines(json.dumps(q) + '\n' for q in queries)
PY
    if [ ! -f "$MINI/index/manifest.json" ]; then
        "$BIN" index build -i "$MINI/items.jsonl" --anchor-queries assets/demo/anchor_queries.jsonl \
            --kq 20 --out "$MINI/index" --resume
    fi
    export RELEX_UI_MODEL=$PWD/assets/models/wordnet-minilm-emb
    export RELEX_UI_ITEMS=$MINI/items.jsonl RELEX_UI_INDEX=$MINI/index
    BUDGET=${VIEWS_BUDGET:-200}
    K_I=${VIEWS_K_I-}
    WAIT_LOAD=${VIEWS_WAIT_LOAD:-15}
fi

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
if [ "$MODE" != views ]; then
    import -window root "$OUT/00-loaded.png"
fi

# The explorer views (tabs at the top of the central area; coordinates for 1600 px).
shot() { # name
    xdotool mousemove 150 700
    sleep 1
    import -window root "$OUT/$1.png"
}
views_flow() {
    sleep "${WAIT_VIEWS_SEARCH:-45}"
    # Compare: the tab, then its button.
    xdotool mousemove 402 75 click 1
    sleep 1
    xdotool mousemove 360 107 click 1
    sleep "${WAIT_COMPARE:-30}"
    shot 06-compare-methods
    # Explain: "why isn't bank (n02787772), the exact #1, in ANNCUR's top-10?"
    xdotool mousemove 487 75 click 1
    sleep 15
    xdotool mousemove 829 106 click 1
    sleep 0.3
    xdotool type --delay 40 "${EXPLAIN_ID:-n02787772}"
    xdotool key Return
    sleep "${WAIT_EXPLAIN:-20}"
    shot 07-explain-item
    # Query set: the first 12 test queries of the slice, every item scored exactly.
    xdotool mousemove 576 75 click 1
    sleep 1
    xdotool mousemove 690 107 click 1
    sleep 0.3
    xdotool type --delay 20 "$MINI/queries.jsonl"
    xdotool key Return
    set_drag_value 480 176 12
    xdotool mousemove 567 176 click 1
    sleep 0.3
    xdotool mousemove 808 176 click 1
    sleep "${WAIT_QUERY_SET:-300}"
    shot 08-query-set
    # Judgments: open the worst query, judge rows from the keyboard, two snapshots, diff.
    xdotool mousemove 553 290 click 1
    sleep "${WAIT_VIEWS_SEARCH:-45}"
    xdotool mousemove 697 75 click 1
    sleep 1
    xdotool mousemove 150 700
    # From the top row (Home): R relevant, N not relevant, S skip (each selects the next row).
    xdotool key Home
    for k in r r n r n r s r n; do xdotool key "$k"; sleep 0.4; done
    snapshot_path() { # file: typed into the view's path field
        xdotool mousemove 420 107 click 1
        sleep 0.3
        xdotool key ctrl+a
        xdotool type --delay 20 "$1"
        sleep 0.3
    }
    snapshot_path "$MINI/a.json"
    xdotool mousemove "${SAVE_X:-585}" 107 click 1
    sleep 1
    # a click on the empty left panel takes the keyboard from the path field
    xdotool mousemove 150 700 click 1
    sleep 0.3
    xdotool key Up Up r Up Up n
    sleep 0.5
    snapshot_path "$MINI/b.json"
    xdotool mousemove "${SAVE_X:-585}" 107 click 1
    sleep 1
    snapshot_path "$MINI/a.json"
    xdotool mousemove "${LOAD_X:-708}" 107 click 1
    sleep 1
    snapshot_path "$MINI/b.json"
    xdotool mousemove "${DIFF_X:-818}" 107 click 1
    sleep 1
    shot 09-judgments-snapshots
    # CJK and emoji in item texts (a system CJK font is the fallback).
    xdotool mousemove 328 75 click 1
    sleep 1
    # (the filter sits under the ranking's summary line of the query run above)
    xdotool mousemove 450 "${FILTER_Y:-129}" click 1
    sleep 0.3
    xdotool type --delay 40 "x-"
    sleep 2
    shot 10-cjk-emoji-items
}

# Search settings. A fresh storage dir starts on ADACUR (TF-IDF stands in only while no
# index is loaded; the demo loads assets/demo/index); ANNCUR's k_i box shows only for
# ANNCUR, so K_I is typed only when set (the views, too, run on ADACUR). Set the CE budget: a click on its
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
if [ -n "$K_I" ]; then
    set_drag_value "$KI_X" "$KI_Y" "$K_I"
fi

# The query box: click it, then type.
xdotool mousemove 300 18 click 1
sleep 0.3
xdotool type --delay 40 "$QUERY"
sleep 0.5
if [ "$MODE" = views ]; then
    xdotool key Return
    views_flow
    echo "saved: $(ls "$OUT"/0[6-9]*.png "$OUT"/10*.png | tr '\n' ' ')"
    exit 0
fi
import -window root "$OUT/01-query-typed.png"
xdotool key Return
sleep "$WAIT_APPROX"
import -window root "$OUT/02-approximate-exact-streaming.png"

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
