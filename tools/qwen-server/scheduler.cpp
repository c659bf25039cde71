// The scheduler thread: admit, one batched forward step, deliver text, repeat.
#include "qwen-server/scheduler.hpp"

#include <algorithm>
#include <exception>
#include <span>


namespace qwenedge::server {
namespace {

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
    : model_(model), context_(options.context > 0 ? options.context : model.options().context),
      max_queue_(static_cast<size_t>(std::max(0, options.max_queue))), step_tokens_(std::max(1, options.step_tokens)),
      metrics_(metrics), engine_(model, {.threads = options.threads, .max_step_tokens = 512}) {
  const int n = std::max(1, options.slots);
  for (int i = 0; i < n; ++i) slots_.push_back(std::make_unique<Slot>(model_, context_));
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
    // The free slot whose cache shares the longest prefix with the prompt, when that is more
    // than half of it (a follow-up turn, a regenerated answer: its own conversation); else the
    // least recently used free slot, an empty one first. Every chat shares the template's
    // opening, and taking the slot of another conversation for that would throw away a cache
    // its next turn could have used.
    const std::span<const int32_t> ids = job->prompt->ids();
    Slot* best = nullptr;
    Slot* oldest = nullptr;
    size_t best_prefix = 0;
    for (const auto& s : slots_) {
      if (s->job) continue;
      const auto prefix = static_cast<size_t>(s->seq.common_prefix(ids));
      if (!best || prefix > best_prefix || (prefix == best_prefix && s->last_used < best->last_used)) {
        best = s.get();
        best_prefix = prefix;
      }
      if (!oldest || s->last_used < oldest->last_used) oldest = s.get();
    }
    if (2 * best_prefix <= ids.size()) best = oldest;
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
        for (const auto& s : slots_) {
          if (!s->job) continue;
          const std::lock_guard job_lock(s->job->mu);
          s->job->cut = true;
          s->job->cancel = true;
        }
        for (const auto& job : queue_) {
          {
            const std::lock_guard job_lock(job->mu);
            job->cut = true;
          }
          end_queued(*job, "the server is shutting down");
        }
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
  // Start the jobs that just joined: their prompts, fitted already, reuse what their slot holds.
  for (const auto& s : slots_) {
    if (!s->job || s->gen) continue;
    try {
      s->gen.emplace(s->seq, *s->job->prompt, s->job->options);
      s->chunked = false;
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
  plan_step();
  if (inputs_.empty()) return;
  double work = 0;
  for (const StepInput& in : inputs_) work += input_work(in.sequence->size(), static_cast<int64_t>(in.tokens.size()));
  const auto t0 = Clock::now();
  try {
    engine_.step(inputs_);  // a step that fails changes no sequence
  } catch (const std::exception& e) {
    for (Slot* s : running_) finish(*s, e.what());
    return;
  }
  cost_.add(work, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  for (size_t i = 0; i < running_.size(); ++i) {
    Slot& s = *running_[i];
    const std::string text = s.gen->advance();
    if (inputs_[i].logits == Logits::kNone) continue;  // a prompt chunk: nothing sampled yet
    deliver(s, text);
    if (s.gen->done()) finish(s);
  }
}

void Scheduler::plan_step() {
  inputs_.clear();
  running_.clear();
  std::vector<Slot*> prefilling;
  double decode_work = 0;
  for (const auto& s : slots_) {
    if (!s->job) continue;
    if (s->gen->prefilling()) {
      prefilling.push_back(s.get());
    } else {
      inputs_.push_back(s->gen->input(1));
      running_.push_back(s.get());
      decode_work += input_work(s->seq.size(), 1);
    }
  }
  // Prompts in order of arrival: a short one (up to step_tokens) goes in whole, as it costs the
  // streams little; a long one gets a chunk of what the budget has left.
  std::sort(prefilling.begin(), prefilling.end(), [](const Slot* a, const Slot* b) { return a->job->arrived < b->job->arrived; });
  double budget = prefill_budget(static_cast<int64_t>(inputs_.size()), decode_work);
  for (Slot* s : prefilling) {
    const auto rest = static_cast<int64_t>(s->gen->feed().size());
    s->chunked = s->chunked || rest > step_tokens_;  // a long prompt stays chunked to its end
    // The chunk's tokens attend to about s->seq.size() positions each.
    const auto fits = static_cast<int64_t>(budget / input_work(s->seq.size(), 1));
    if (s->chunked && fits < 1) continue;
    const StepInput in = s->gen->input(s->chunked ? std::min<int64_t>(fits, step_tokens_) : rest);
    budget -= input_work(s->seq.size(), static_cast<int64_t>(in.tokens.size()));
    inputs_.push_back(in);
    running_.push_back(s);
  }
}

// The arithmetic of `n` tokens appended at `pos`, in tokens' worth: a token's matmuls plus its
// attention over the positions before it, about one token's worth per kPositionsPerToken
// positions (on the 0.5B shape a 512-token prefill runs ~1.6x slower on 2048 cached positions,
// docs/BENCHMARKS.md).
double Scheduler::input_work(int64_t pos, int64_t n) {
  constexpr double kPositionsPerToken = 3600;
  const double mean_pos = static_cast<double>(pos) + static_cast<double>(n) / 2;
  return static_cast<double>(n) * (1 + mean_pos / kPositionsPerToken);
}

void StepCost::add(double work, double ms) {
  constexpr double kKeep = 0.98;  // of the older steps' weight, per step
  const double t = work;
  n_ = kKeep * n_ + 1;
  x_ = kKeep * x_ + t;
  y_ = kKeep * y_ + ms;
  xx_ = kKeep * xx_ + t * t;
  xy_ = kKeep * xy_ + t * ms;
}

bool StepCost::known() const { return n_ > 4 && xx_ * n_ - x_ * x_ > 4 * n_ * n_ && work_ms() > 0; }
double StepCost::work_ms() const { return (xy_ * n_ - x_ * y_) / (xx_ * n_ - x_ * x_); }
double StepCost::fixed_ms() const { return std::max(0.0, (y_ - work_ms() * x_) / n_); }

// Prompt work (input_work units) the next step may carry beside `decoding` streams of
// `decode_work`: as much as makes it cost about two decode-only steps,
// a + b·(decode_work + P) = 2·(a + b·decode_work), by the costs measured so far.
double Scheduler::prefill_budget(int64_t decoding, double decode_work) const {
  if (decoding == 0) return 512;
  if (!cost_.known()) return 16;  // until steps of several sizes are seen
  return cost_.fixed_ms() / cost_.work_ms() + decode_work;
}

void Scheduler::deliver(Slot& slot, const std::string& text) {
  Job& job = *slot.job;
  const bool first = job.first_token == Clock::time_point{};
  if (!first && text.empty()) return;
  {
    const std::lock_guard lock(job.mu);
    if (first) job.first_token = Clock::now();
    job.text += text;
  }
  job.cv.notify_all();
  if (first) metrics_.ttft(seconds_between(job.arrived, job.first_token));
}

}  // namespace qwenedge::server
