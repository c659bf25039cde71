// Continuous batching: up to N conversations (slots) generate together, one forward pass over
// the weights per step for all of them; new requests join between steps. While streams decode,
// every step gives each its one token and a joining prompt only a chunk, sized so that the step
// takes about two decode-only steps: a long prompt is prefilled beside the running streams
// instead of stopping them for its whole prefill.
//
// Each slot keeps the KV cache of its last conversation, so a follow-up turn routed to the slot
// whose cached tokens share the longest prefix with its prompt prefills only its new tokens.
// Requests beyond the slots wait in a bounded queue.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "qwenedge/generation.hpp"
#include "qwenedge/model.hpp"
#include "qwenedge/step.hpp"
#include "qwen-server/metrics.hpp"

namespace qwenedge::server {

using Clock = std::chrono::steady_clock;

// One request as the scheduler sees it. Its worker thread fills the inputs, submits it and reads
// the outputs; the scheduler thread writes the outputs under `mu`.
struct Job {
  // Inputs.
  std::optional<Prompt> prompt;  // already fitted to the context (on the request's thread)
  GenerateOptions options;
  Clock::time_point arrived = Clock::now();
  std::atomic<bool> cancel{false};  // set by the HTTP side: the client is gone

  // Outputs.
  std::mutex mu;
  std::condition_variable cv;
  std::string text;               // generated text not yet taken by the HTTP side
  bool finished = false;
  std::optional<Result> result;   // once finished, unless failed
  std::string error;              // once finished, when it failed
  bool cut = false;               // ended early by a shutdown (Scheduler::cancel_all)
  Clock::time_point first_token{};

  // Waits up to `timeout` for new text or the end; moves the new text into `out`. Returns
  // whether the job has finished (then `out` holds everything that was left).
  bool wait(std::chrono::milliseconds timeout, std::string& out);
};

// What a step costs as a function of its work (tokens, weighted by the positions they attend
// to), ms ≈ a + b·work (a: reading the weights, b: the arithmetic), fitted by least squares over
// recent steps, older ones fading.
class StepCost {
 public:
  void add(double work, double ms);
  bool known() const;       // enough steps of different sizes seen
  double fixed_ms() const;  // a
  double work_ms() const;   // b

 private:
  double n_ = 0, x_ = 0, y_ = 0, xx_ = 0, xy_ = 0;  // decayed sums of 1, work, ms, work², work·ms
};

struct SchedulerOptions {
  int slots = 4;
  int64_t context = 0;   // per slot; 0 = the model's LoadOptions::context
  int threads = 0;       // 0 = the model's LoadOptions::threads
  int max_queue = 64;    // requests waiting for a slot
  // A prompt up to this long joins in one step; a longer one is prefilled in chunks beside the
  // decoding streams, at most this many tokens a step (usually fewer: what keeps the step near
  // two decode-only steps). With no stream decoding a prompt runs in steps of 512.
  int step_tokens = 64;
};

class Scheduler {
 public:
  Scheduler(const Model& model, const SchedulerOptions& options, Metrics& metrics);
  ~Scheduler();  // cancels what runs and waits for the scheduler thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  enum class Admit { kOk, kQueueFull, kDraining };
  Admit submit(const std::shared_ptr<Job>& job);

  // Admits no new request from now on; what is running or queued goes on.
  void drain();
  // Cancels everything running or queued.
  void cancel_all();
  bool idle() const;  // nothing running or queued
  bool draining() const;

  int64_t context() const { return context_; }
  int slots() const { return static_cast<int>(slots_.size()); }
  int busy_slots() const;
  int queue_length() const;

 private:
  struct Slot {
    Slot(const Model& m, int64_t context) : seq(m, context) {}
    Sequence seq;
    std::shared_ptr<Job> job;  // null when free
    std::optional<Generation> gen;
    bool chunked = false;  // its prompt is too long to join in one step
    uint64_t last_used = 0;
  };

  void loop();
  void admit_queued();  // under mu_: moves queued jobs to free slots
  void finish(Slot& slot, const std::string& error = {});
  void step();
  void plan_step();     // fills inputs_ and running_ within the step's token budget
  double prefill_budget(int64_t decoding, double decode_work) const;
  static double input_work(int64_t pos, int64_t n);

  void deliver(Slot& slot, const std::string& text);

  Model model_;
  int64_t context_;
  size_t max_queue_;
  int step_tokens_;
  Metrics& metrics_;
  Engine engine_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<StepInput> inputs_;  // the step being run
  std::vector<Slot*> running_;     // the slot of each input
  StepCost cost_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  int busy_ = 0;
  bool draining_ = false;
  bool stop_ = false;
  bool cancel_all_ = false;  // the scheduler thread cancels every running job at its next step
  uint64_t clock_ = 0;  // slot use counter, for least-recently-used choice
  std::thread thread_;
};

}  // namespace qwenedge::server
