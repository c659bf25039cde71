// A small pool of persistent worker threads for the forward pass: run() executes one parallel
// step on n threads (the caller is thread 0), barrier() lines them up between phases.
//
// Why not OpenMP: libgomp's threads spin at barriers for a long time by default, and the wait
// policy can only be set through the environment before the process starts, so a library cannot
// choose it. On a host whose CPUs are busy with other programs, a descheduled peer then makes
// every barrier cost a whole scheduler time slice. Here a waiting thread spins only a few
// microseconds (enough to cover the ordinary imbalance between phases) and then sleeps on a
// futex, so a late peer costs a wake-up, not a time slice; with more threads than CPUs it sleeps
// at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace qwenedge::detail {

class ThreadPool {
 public:
  // `spin_ns`: how long a waiting thread polls before it sleeps.
  explicit ThreadPool(int64_t spin_ns = kDefaultSpinNs);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  static constexpr int64_t kDefaultSpinNs = 20'000;

  static constexpr int kMaxThreads = 255;

  // Calls fn(tid, n) on n threads at once (n clamped to [1, kMaxThreads]; tid 0 is the caller) and returns when all
  // have returned. Workers are started on first need and kept. fn must not throw (an exception
  // escaping it on a worker terminates the process, as it would in an OpenMP region), and every
  // thread of a step must call barrier() the same number of times. One run at a time: a pool
  // belongs to one caller thread.
  template <class Fn>
  void run(int n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run_impl(n, [](void* f, int tid, int nt) { (*static_cast<F*>(f))(tid, nt); },
             const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Returns when every thread of the current step has reached it. Memory written before the
  // barrier by any thread is visible after it to all.
  void barrier() noexcept;

 private:
  using Call = void (*)(void*, int, int);
  void run_impl(int n, Call call, void* ctx);
  void worker_main(int tid);
  // Blocks while `a` holds `old`: polls for spin_ns_ (unless the step has more threads than
  // CPUs), then sleeps until wake() on `a`.
  void wait_while(const std::atomic<uint32_t>& a, uint32_t old) noexcept;
  void wake(std::atomic<uint32_t>& a) noexcept;

  int64_t spin_ns_;
  int cpus_;                          // CPUs this process may run on
  std::vector<std::thread> workers_;  // workers_[i] runs as tid i + 1

  // The current step: call_, ctx_ and n_ are written before job_ publishes them, and are read
  // only by the step's own threads, which the caller waits for before it writes them again.
  Call call_ = nullptr;
  void* ctx_ = nullptr;
  int n_ = 1;
  std::atomic<bool> spin_{true};  // n_ <= cpus_
  // (sequence number << 8) | thread count of the newest step, 0 threads = stop. A worker that
  // is not part of a step learns that from this word alone, never reading the fields above.
  alignas(64) std::atomic<uint32_t> job_{0};
  alignas(64) std::atomic<uint32_t> done_{0};      // workers finished with the current step
  alignas(64) std::atomic<uint32_t> arrived_{0};   // threads at the current barrier
  alignas(64) std::atomic<uint32_t> barrier_gen_{0};
  alignas(64) std::atomic<uint32_t> sleepers_{0};  // threads in a futex wait (any address)
};

}  // namespace qwenedge::detail
