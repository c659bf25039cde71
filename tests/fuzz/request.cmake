# fuzz_request: qwen-server's request parsing and validation, then the chat template. The fuzz
# build has no tools (QWENEDGE_BUILD_TOOLS=OFF), so no qwen_server_api library: its two sources
# are compiled in. They need only the public headers, nlohmann_json and, for the prompt, the
# tokenizer library.
set(qwen_server_dir ${PROJECT_SOURCE_DIR}/tools/qwen-server)
add_executable(fuzz_request ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_request.cpp
  ${qwen_server_dir}/openai_api.cpp ${qwen_server_dir}/tool_calls.cpp)
target_link_libraries(fuzz_request PRIVATE qwenedge_tokenizer nlohmann_json::nlohmann_json qwenedge_warnings)
target_include_directories(fuzz_request PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tools)
target_link_options(fuzz_request PRIVATE -fsanitize=fuzzer)
