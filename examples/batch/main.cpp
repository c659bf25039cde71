// batch: several conversations generated together on the step level — every round is one
// forward step over the weights for all of them, prompts of different lengths included — and
// each answer checked against the same conversation generated alone.
//   batch MODEL.gguf [MAX_TOKENS]
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <qwenedge/qwenedge.hpp>

namespace {

const std::vector<std::string> kQuestions = {
    "Hi!",
    "What is the capital of France? Answer in one word.",
    "Write a short poem about the sea, the wind and a small boat that sails home at night.",
    "你好，请介绍一下你自己。",
};

// Greedy answers, so that together and alone must agree token for token.
qwenedge::GenerateOptions options(int max_tokens) {
  qwenedge::GenerateOptions o;
  o.max_tokens = max_tokens;
  o.temperature = 0.0f;
  return o;
}

// All conversations at once: each round, one step with every unfinished generation's input.
std::vector<qwenedge::Result> together(const qwenedge::Model& model, int max_tokens) {
  qwenedge::Engine engine(model);
  std::vector<qwenedge::Sequence> seqs;
  std::vector<qwenedge::Generation> gens;
  seqs.reserve(kQuestions.size());  // generations hold references to their sequences
  for (const std::string& q : kQuestions) {
    seqs.emplace_back(model, 1024);
    gens.emplace_back(seqs.back(), qwenedge::Prompt::chat(model, {{"user", q, {}}}), options(max_tokens));
  }
  for (int steps = 0;; ++steps) {
    std::vector<qwenedge::StepInput> inputs;
    for (qwenedge::Generation& g : gens) {
      if (!g.done()) inputs.push_back(g.input());
    }
    if (inputs.empty()) {
      std::cerr << "batch: " << kQuestions.size() << " answers in " << steps << " steps\n";
      break;
    }
    engine.step(inputs);
    for (qwenedge::Generation& g : gens) {
      if (!g.done()) g.advance();
    }
  }
  std::vector<qwenedge::Result> results;
  for (qwenedge::Generation& g : gens) results.push_back(g.take_result());
  return results;
}

qwenedge::Result alone(const qwenedge::Model& model, const std::string& question, int max_tokens) {
  qwenedge::Session session(model, {.context = 1024});
  return session.chat({{"user", question, {}}}, options(max_tokens));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: batch MODEL.gguf [MAX_TOKENS]\n";
    return 2;
  }
  const int max_tokens = argc > 2 ? std::atoi(argv[2]) : 24;
  try {
    const qwenedge::Model model = qwenedge::Model::load(argv[1]);
    const std::vector<qwenedge::Result> batched = together(model, max_tokens);
    int mismatches = 0;
    for (size_t i = 0; i < kQuestions.size(); ++i) {
      const qwenedge::Result single = alone(model, kQuestions[i], max_tokens);
      const bool same = single.tokens == batched[i].tokens && single.text == batched[i].text;
      mismatches += same ? 0 : 1;
      std::cout << "[" << i << "] " << batched[i].timings.prompt_tokens << " prompt tokens, "
                << batched[i].tokens.size() << " generated, " << (same ? "same as alone" : "DIFFERS from alone")
                << ": " << batched[i].text << "\n";
    }
    std::cerr << "finish: " << kQuestions.size() - static_cast<size_t>(mismatches) << " of " << kQuestions.size()
              << " answers equal to their sequence generated alone\n";
    return mismatches == 0 ? 0 : 1;
  } catch (const qwenedge::Error& e) {
    std::cerr << "batch: " << qwenedge::error_code_name(e.code()) << ": " << e.what() << '\n';
    return 1;
  }
}
