// chat: load a model, send one message, stream the answer.
//   chat MODEL.gguf [MESSAGE] [MAX_TOKENS]
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <qwenedge/qwenedge.hpp>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::cerr << "usage: chat MODEL.gguf [MESSAGE] [MAX_TOKENS]\n";
    return 2;
  }
  const std::string message = argc > 2 ? argv[2] : "Hello! Who are you?";
  try {
    const qwenedge::Model model = qwenedge::Model::load(argv[1]);
    qwenedge::Session session(model);

    qwenedge::GenerateOptions options;  // sampling: the model's generation defaults
    if (argc > 3) options.max_tokens = std::atoi(argv[3]);

    const std::vector<qwenedge::Message> messages = {{"user", message, {}}};
    const qwenedge::Result result = session.chat(messages, options, [](std::string_view text) {
      std::cout << text << std::flush;  // whole UTF-8 characters only
      return true;                      // false would stop the generation
    });
    std::cout << '\n';

    const qwenedge::Timings& t = result.timings;
    std::cerr << "[" << model.info().name << ", " << model.info().isa << "] finish: "
              << qwenedge::finish_reason_name(result.finish) << ", " << t.prompt_tokens << " prompt tokens, "
              << t.generated_tokens << " generated, " << t.decode_tokens_per_s() << " tokens/s\n";
    return 0;
  } catch (const qwenedge::Error& e) {
    std::cerr << "chat: " << qwenedge::error_code_name(e.code()) << ": " << e.what() << '\n';
    return 1;
  }
}
