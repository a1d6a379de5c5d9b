#!/usr/bin/env bash
# The main job of the README: a SLOT generation.
#   bash scripts/demo.sh [MODEL_DIR] [PROMPT]
# Without MODEL_DIR it uses the trained TinyStories model of ../shared when present, else it makes a
# small random-weight Llama with the project's own tools (tools/make_checkpoint.py) and runs on ids.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build Release >/dev/null
MODEL=${1:-}
PROMPT=${2:-"Once upon a time, there was a little dog"}
if [ -z "$MODEL" ] && [ -f ../shared/models/tinystories-656k/model.safetensors ]; then
  MODEL=../shared/models/tinystories-656k
fi
if [ -n "$MODEL" ]; then
  exec ./build/src/cli/slotlm run -m "$MODEL" -p "$PROMPT" -n 64 --temp 0 --slot-steps 5 --slot-lr 0.01
fi
MODEL=models/demo-tiny-llama3
if [ ! -f "$MODEL/model.safetensors" ]; then
  echo "demo: making a random-weight tiny Llama-3 in $MODEL (tools/make_checkpoint.py)"
  /usr/bin/python3 tools/make_checkpoint.py --preset tiny-llama3 --out "$MODEL"
fi
echo "demo: random weights and no tokenizer: the prompt and output are token ids"
exec ./build/src/cli/slotlm run -m "$MODEL" --prompt-ids "1 17 42 99 7 23 5 88 130 64" -n 32 --temp 0 \
  --slot-steps 5 --slot-lr 0.1 --json
