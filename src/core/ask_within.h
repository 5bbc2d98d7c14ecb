// Asking a question that may never be answered (a call into a library that waits for a process
// that hangs) without waiting for it longer than the caller can afford.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace greenshift {

// Calls `question()` on a thread of its own and waits up to `wait` for what it returns: nullopt
// when it did not return in time. The thread is detached: it goes on until the question returns,
// whenever that is, and its answer is then dropped. So `question` must own everything it uses
// (capture by value, references counted): the caller and its stack may be long gone by then.
// Thread-safe; each call starts one thread.
template <typename T, typename Question>
std::optional<T> AskWithin(Question question, std::chrono::milliseconds wait) {
  struct Answer {
    std::mutex mutex;
    std::condition_variable arrived;
    std::optional<T> value;
  };
  auto answer = std::make_shared<Answer>();
  std::thread([answer, question = std::move(question)]() mutable {
    T value = question();
    std::lock_guard<std::mutex> lock(answer->mutex);
    answer->value = std::move(value);
    answer->arrived.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(answer->mutex);
  answer->arrived.wait_for(lock, wait, [&answer] { return answer->value.has_value(); });
  return answer->value;
}

}  // namespace greenshift
