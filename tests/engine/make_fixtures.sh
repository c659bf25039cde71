#!/usr/bin/env bash
# Builds the end-to-end fixtures under OUT: tiny random Hugging Face checkpoints, their GGUF
# conversions, the tiny-qwen2-kjv conversions, and NumPy reference logits for each.
#   make_fixtures.sh OUT QWEN_CONVERT PYTHON SOURCE_DIR SHARED_DIR
#   QWENEDGE_FIXTURES_FROM=DIR   copy a finished fixture folder of another build instead (the
#                                ThreadSanitizer run, which has no use for a converter that
#                                runs ten times slower under it)
set -euo pipefail
out=$1 convert=$2 py=$3 src=$4 shared=$5

# Only a folder finished after this script and the generators last changed.
from=${QWENEDGE_FIXTURES_FROM:-}
if [ -n "$from" ] && [ -f "$from/done" ] && [ "$from/done" -nt "$0" ] &&
   [ "$from/done" -nt "$src/tests/fixtures/make_tiny_qwen2.py" ] && [ "$from/done" -nt "$src/tests/reference/qwen2_ref.py" ]; then
  rm -rf "$out"
  cp -a "$from" "$out"
  echo "make_fixtures: copied from $from"
  exit 0
fi
gen="$py $src/tests/fixtures/make_tiny_qwen2.py"
ref="$py $src/tests/reference/qwen2_ref.py"
tokdir="$shared/qwen2.5-0.5b-instruct"

rm -rf "$out"
mkdir -p "$out/hf" "$out/ref"

# 80 token ids spread over the whole vocabulary: every position of this sequence is checked.
$py -c "import random; r=random.Random(7); print(','.join(str(r.randrange(151643)) for _ in range(80)))" > "$out/tokens.txt"
tokens=$(cat "$out/tokens.txt")

$gen "$out/hf/tiny-f32" --dtype f32 --seed 1 --tokenizer-dir "$tokdir"
$gen "$out/hf/tiny-f32-sharded" --dtype f32 --seed 1 --shards 3 --tokenizer-dir "$tokdir"
$gen "$out/hf/tiny-bf16" --dtype bf16 --seed 1 --tokenizer-dir "$tokdir"
$gen "$out/hf/tiny-bf16-sharded" --dtype bf16 --seed 1 --shards 2 --tokenizer-dir "$tokdir"
$gen "$out/hf/tiny-untied" --dtype f32 --seed 2 --untied --tokenizer-dir "$tokdir"

for t in f32 f16 bf16 q8_0 q4_0; do
  $convert "$out/hf/tiny-f32" "$out/tiny-f32.$t.gguf" --type "$t" --quiet
  $convert "$out/hf/tiny-untied" "$out/tiny-untied.$t.gguf" --type "$t" --quiet
done
$convert "$out/hf/tiny-f32-sharded" "$out/tiny-f32-sharded.f32.gguf" --type f32 --quiet
$convert "$out/hf/tiny-bf16" "$out/tiny-bf16.bf16.gguf" --type bf16 --quiet
$convert "$out/hf/tiny-bf16-sharded" "$out/tiny-bf16-sharded.bf16.gguf" --type bf16 --quiet
$convert "$out/hf/tiny-f32" "$out/tiny-f32.q8_0.again.gguf" --type q8_0 --quiet
# Row-interleaved twins (Q8_0_R8 / Q4_0_R8) of block-quantized files.
for m in tiny-f32 tiny-untied; do
  for t in q8_0 q4_0; do
    $convert "$out/hf/$m" "$out/$m.$t.il.gguf" --type "$t" --interleaved --quiet
  done
done

# Reference logits [80, V] from the Hugging Face weights, and from each quantized file's own
# dequantized weights.
$ref --hf "$out/hf/tiny-f32" --tokens "$tokens" --out "$out/ref/tiny-f32.f32"
$ref --hf "$out/hf/tiny-bf16" --tokens "$tokens" --out "$out/ref/tiny-bf16.f32"
$ref --hf "$out/hf/tiny-untied" --tokens "$tokens" --out "$out/ref/tiny-untied.f32"
for m in tiny-f32 tiny-untied; do
  for t in q8_0 q4_0; do
    $ref --gguf "$out/$m.$t.gguf" --tokens "$tokens" --out "$out/ref/$m.$t"
  done
done

if [ -f "$shared/models/tiny-qwen2-kjv/model.safetensors" ]; then
  for t in f32 bf16 q8_0 q4_0; do
    $convert "$shared/models/tiny-qwen2-kjv" "$out/kjv.$t.gguf" --type "$t" --quiet
  done
  $convert "$shared/models/tiny-qwen2-kjv" "$out/kjv.q4_0.il.gguf" --type q4_0 --interleaved --quiet
else
  echo "make_fixtures: $shared/models/tiny-qwen2-kjv not found; the kjv tests will be skipped"
fi
touch "$out/done"
echo "make_fixtures: done"
