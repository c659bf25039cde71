# fuzz_tokenizer: encode/decode/normalize/stream/chat properties on arbitrary bytes.
add_executable(fuzz_tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_tokenizer.cpp)
target_link_libraries(fuzz_tokenizer PRIVATE qwenedge_tokenizer)
target_include_directories(fuzz_tokenizer PRIVATE ${PROJECT_SOURCE_DIR})
target_link_options(fuzz_tokenizer PRIVATE -fsanitize=fuzzer)
