#include "engine/runtime/thread_pool.hpp"

#include <chrono>
#include <climits>

#if defined(__linux__)
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace qwenedge::detail {
namespace {

// A hint to the core that this is a spin loop (frees the sibling hyperthread's resources).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

int usable_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

// Sleeps while *a == old (returns at once if it differs, or spuriously).
inline void futex_wait(const std::atomic<uint32_t>& a, uint32_t old) noexcept {
#if defined(__linux__)
  // std::atomic<uint32_t> is a plain 32-bit word here, which is what the futex reads.
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&a), FUTEX_WAIT_PRIVATE, old, nullptr, nullptr, 0);
#else
  a.wait(old, std::memory_order_acquire);
#endif
}

inline void futex_wake_all(std::atomic<uint32_t>& a) noexcept {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
#else
  a.notify_all();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int64_t spin_ns) : spin_ns_(spin_ns), cpus_(usable_cpus()) {}

ThreadPool::~ThreadPool() {
  const uint32_t seq = (job_.load(std::memory_order_relaxed) >> 8) + 1;
  job_.store(seq << 8, std::memory_order_seq_cst);  // zero threads: stop
  wake(job_);
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::wait_while(const std::atomic<uint32_t>& a, uint32_t old) noexcept {
  if (a.load(std::memory_order_acquire) != old) return;
  if (spin_ns_ > 0 && spin_.load(std::memory_order_relaxed)) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(spin_ns_);
    for (;;) {
      // Read the clock only every 32 polls: a pause is ~10-100 cycles, a clock read ~20 ns.
      for (int i = 0; i < 32; ++i) {
        if (a.load(std::memory_order_acquire) != old) return;
        cpu_relax();
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
    }
  }
  while (a.load(std::memory_order_acquire) == old) {
    // The increment, then (inside the kernel) the re-check of `a`; wake() changes `a` first and
    // then reads sleepers_. With both sides sequentially consistent, either the waker sees this
    // sleeper or the futex sees the new value and returns at once: no wake-up is lost.
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    futex_wait(a, old);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void ThreadPool::wake(std::atomic<uint32_t>& a) noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Nobody asleep (the common case when every thread is on a CPU): skip the system call.
  if (sleepers_.load(std::memory_order_seq_cst) != 0) futex_wake_all(a);
}

void ThreadPool::run_impl(int n, Call call, void* ctx) {
  if (n < 1) n = 1;
  if (n > kMaxThreads) n = kMaxThreads;
  // Start the missing workers before publishing anything, so a failure to start one (which
  // throws) leaves the pool as it was.
  while (static_cast<int>(workers_.size()) < n - 1) {
    const int tid = static_cast<int>(workers_.size()) + 1;
    workers_.emplace_back([this, tid] { worker_main(tid); });
  }
  n_ = n;  // barrier() reads it, also in a one-thread step
  if (n == 1) {
    call(ctx, 0, 1);
    return;
  }
  call_ = call;
  ctx_ = ctx;
  spin_.store(n <= cpus_, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint32_t seq = (job_.load(std::memory_order_relaxed) >> 8) + 1;
  job_.store(seq << 8 | static_cast<uint32_t>(n), std::memory_order_seq_cst);  // publishes the fields above
  wake(job_);
  // The step runs on this thread as tid 0; fn must not throw (noexcept lambda: terminate).
  [&]() noexcept { call(ctx, 0, n); }();
  const auto workers = static_cast<uint32_t>(n - 1);
  for (uint32_t d = done_.load(std::memory_order_acquire); d != workers; d = done_.load(std::memory_order_acquire)) {
    wait_while(done_, d);
  }
}

void ThreadPool::worker_main(int tid) {
  uint32_t seen = 0;
  for (;;) {
    wait_while(job_, seen);
    seen = job_.load(std::memory_order_acquire);
    const int n = static_cast<int>(seen & 0xff);
    if (n == 0) return;
    if (tid >= n) continue;  // a smaller step than the pool: not needed this time
    call_(ctx_, tid, n);
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<uint32_t>(n - 1)) wake(done_);
  }
}

void ThreadPool::barrier() noexcept {
  const int n = n_;
  if (n <= 1) return;
  // The generation must be read before arriving: it cannot advance until this thread arrives.
  const uint32_t gen = barrier_gen_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<uint32_t>(n)) {
    arrived_.store(0, std::memory_order_relaxed);        // before the release below
    barrier_gen_.fetch_add(1, std::memory_order_seq_cst);  // releases every thread's writes
    wake(barrier_gen_);
  } else {
    wait_while(barrier_gen_, gen);
  }
}

}  // namespace qwenedge::detail
