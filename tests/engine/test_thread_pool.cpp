// The engine's thread pool: every step runs on exactly the threads asked for, barriers order
// memory, and the thread count may change from step to step (also to and from one thread).
#include <catch2/catch.hpp>
#include <atomic>
#include <vector>

#include "engine/runtime/thread_pool.hpp"

using namespace qwenedge::detail;

using qwenedge::detail::ThreadPool;

TEST_CASE("Thread pool: steps of varying width with barriers", "[thread-pool]") {
  for (int64_t spin : {int64_t{0}, ThreadPool::kDefaultSpinNs}) {
    ThreadPool pool(spin);
    std::vector<int64_t> cells(8);
    int64_t expected_sum = 0;
    for (int step = 0; step < 3000; ++step) {
      const int n = 1 + (step * 7) % 4;  // 1..4 threads, changing every step
      std::atomic<int> entered{0};
      std::atomic<int> max_tid{-1};
      bool ok = true;
      pool.run(n, [&](int tid, int nt) {
        if (nt != n) ok = false;
        ++entered;
        int m = max_tid.load();
        while (tid > m && !max_tid.compare_exchange_weak(m, tid)) {}
        cells[static_cast<size_t>(tid)] = step + tid;  // phase 1: each thread its own cell
        pool.barrier();
        int64_t sum = 0;                               // phase 2: every thread reads all cells
        for (int t = 0; t < nt; ++t) sum += cells[static_cast<size_t>(t)];
        if (sum != int64_t{nt} * step + nt * (nt - 1) / 2) ok = false;
        pool.barrier();
        if (tid == 0) expected_sum += sum;
      });
      REQUIRE(ok);
      REQUIRE(entered == n);
      REQUIRE(max_tid == n - 1);
    }
    CHECK(expected_sum > 0);
  }
}

TEST_CASE("Thread pool: two pools on two threads do not interfere", "[thread-pool]") {
  ThreadPool a, b;
  std::atomic<int64_t> total{0};
  auto work = [&](ThreadPool& p) {
    for (int step = 0; step < 500; ++step) {
      p.run(2, [&](int tid, int) {
        total += tid + 1;
        p.barrier();
      });
    }
  };
  std::thread t1([&] { work(a); });
  std::thread t2([&] { work(b); });
  t1.join();
  t2.join();
  CHECK(total == 2 * 500 * 3);
}
