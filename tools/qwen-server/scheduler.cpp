// The scheduler thread: admit, one batched forward step, deliver text, repeat.
#include "tools/qwen-server/scheduler.hpp"

#include <algorithm>
#include <exception>

#include "engine/model_impl.hpp"

namespace qwenedge::server {
namespace {

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Ends a job that never left the queue, with the reason its waiter reports.
void end_queued(Job& job, const char* why) {
  {
    const std::lock_guard lock(job.mu);
    job.error = why;
    job.finished = true;
  }
  job.cv.notify_all();
}

}  // namespace

bool Job::wait(std::chrono::milliseconds timeout, std::string& out) {
  std::unique_lock lock(mu);
  cv.wait_for(lock, timeout, [&] { return finished || !text.empty(); });
  out = std::move(text);
  text.clear();
  return finished;
}

Scheduler::Scheduler(const Model& model, const SchedulerOptions& options, Metrics& metrics)
    : model_(model), m_(model.impl()),
      context_(options.context > 0 ? options.context : model.options().context),
      threads_(options.threads > 0 ? options.threads : model.options().threads),
      max_queue_(static_cast<size_t>(std::max(0, options.max_queue))), metrics_(metrics), forward_(m_.loaded, 512) {
  const int n = std::max(1, options.slots);
  for (int i = 0; i < n; ++i) slots_.push_back(std::make_unique<Slot>(m_, context_));
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    const std::lock_guard lock(mu_);
    stop_ = true;
    cancel_all_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Scheduler::Admit Scheduler::submit(const std::shared_ptr<Job>& job) {
  {
    const std::lock_guard lock(mu_);
    if (draining_ || stop_) return Admit::kDraining;
    // Room for one job per slot plus max_queue waiting.
    if (static_cast<size_t>(busy_) + queue_.size() >= slots_.size() + max_queue_) return Admit::kQueueFull;
    queue_.push_back(job);
  }
  cv_.notify_all();
  return Admit::kOk;
}

void Scheduler::drain() {
  const std::lock_guard lock(mu_);
  draining_ = true;
}

void Scheduler::cancel_all() {
  {
    const std::lock_guard lock(mu_);
    cancel_all_ = true;
  }
  cv_.notify_all();
}

bool Scheduler::idle() const {
  const std::lock_guard lock(mu_);
  return busy_ == 0 && queue_.empty();
}

bool Scheduler::draining() const {
  const std::lock_guard lock(mu_);
  return draining_;
}

int Scheduler::busy_slots() const {
  const std::lock_guard lock(mu_);
  return busy_;
}

int Scheduler::queue_length() const {
  const std::lock_guard lock(mu_);
  return static_cast<int>(queue_.size());
}

void Scheduler::admit_queued() {
  while (!queue_.empty() && busy_ < static_cast<int>(slots_.size())) {
    std::shared_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    // The free slot whose cache shares the longest prefix with the prompt (a follow-up turn
    // finds its own conversation); on a tie the least recently used one.
    Slot* best = nullptr;
    size_t best_prefix = 0;
    for (const auto& s : slots_) {
      if (s->job) continue;
      const size_t prefix = common_prefix(s->seq.history, job->prompt);
      if (!best || prefix > best_prefix || (prefix == best_prefix && s->last_used < best->last_used)) {
        best = s.get();
        best_prefix = prefix;
      }
    }
    best->job = std::move(job);
    best->last_used = ++clock_;
    ++busy_;
  }
}

void Scheduler::finish(Slot& slot, const std::string& error) {
  const std::shared_ptr<Job> job = std::move(slot.job);
  slot.job.reset();
  std::optional<Result> result;
  if (slot.gen) {
    result = slot.gen->take_result();
    metrics_.tokens(result->timings.prompt_tokens, result->timings.cached_tokens, result->timings.generated_tokens);
    slot.gen.reset();
  }
  {
    // The slot is free before the client hears of the end: a client that asks right after
    // its answer finds the slot counted as free.
    const std::lock_guard lock(mu_);
    --busy_;
  }
  if (error.empty()) metrics_.latency(seconds_between(job->arrived, Clock::now()));
  {
    const std::lock_guard lock(job->mu);
    if (error.empty()) job->result = std::move(result);
    job->error = error;
    job->finished = true;
  }
  job->cv.notify_all();
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || cancel_all_ || busy_ > 0 || !queue_.empty(); });
      if (cancel_all_) {
        for (const auto& s : slots_) if (s->job) s->job->cancel = true;
        for (const auto& job : queue_) end_queued(*job, "the server is shutting down");
        queue_.clear();
        cancel_all_ = false;
      }
      // A client that left while queued gives its place back now, not when a slot frees.
      std::erase_if(queue_, [](const std::shared_ptr<Job>& job) {
        const bool left = job->cancel;
        if (left) end_queued(*job, "the client left");
        return left;
      });
      if (stop_ && busy_ == 0) return;
      admit_queued();
    }
    step();
  }
}

void Scheduler::step() {
  // Start the jobs that just joined: fit their prompts into their slots.
  for (const auto& s : slots_) {
    if (!s->job || s->gen) continue;
    try {
      s->gen.emplace(m_, s->job->options, s->job->fit, s->seq);
    } catch (const std::exception& e) {
      finish(*s, e.what());
    }
  }
  // Cancelled jobs leave before the step.
  for (const auto& s : slots_) {
    if (s->job && s->job->cancel) {
      s->gen->cancel();
      finish(*s);
    }
  }
  // One forward pass for every sequence: the prompts of those that joined, one token of the rest.
  std::vector<SequenceStep> steps;
  std::vector<Slot*> running;
  for (const auto& s : slots_) {
    if (!s->job) continue;
    steps.push_back({&s->seq.cache, s->gen->feed(), s->seq.logits.data(), false});
    running.push_back(s.get());
  }
  if (steps.empty()) return;
  try {
    forward_.run(steps, threads_);
  } catch (const std::exception& e) {
    for (Slot* s : running) {
      s->gen->rollback();
      finish(*s, e.what());
    }
    return;
  }
  for (Slot* s : running) {
    std::string text = s->gen->advance();
    Job& job = *s->job;
    const bool first = job.first_token == Clock::time_point{};
    if (first || !text.empty()) {
      {
        const std::lock_guard lock(job.mu);
        if (first) job.first_token = Clock::now();
        job.text += text;
      }
      job.cv.notify_all();
      if (first) metrics_.ttft(seconds_between(job.arrived, job.first_token));
    }
    if (s->gen->done()) finish(*s);
  }
}

}  // namespace qwenedge::server
