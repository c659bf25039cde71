// Encoding fp32 rows into GGUF tensor types and decoding them back (the scalar reference path).
#pragma once

#include <cstdint>

#include "engine/format/gguf.hpp"
#include "qwenedge/convert.hpp"

namespace qwenedge::detail {

gguf::TensorType to_tensor_type(WeightType t) noexcept;

// Encodes `rows` rows of `cols` fp32 values into `dst` (tensor_row_bytes(type, cols) per row).
void encode_rows(gguf::TensorType type, const float* src, int64_t rows, int64_t cols, uint8_t* dst);

// Decodes one row of `cols` values.
void decode_row(gguf::TensorType type, const uint8_t* src, int64_t cols, float* dst);

}  // namespace qwenedge::detail
