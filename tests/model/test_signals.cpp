// Signals arriving while the engine trains. oneDNN 2.6.3's AVX-512 JIT sgemm kernel (under the
// RNN forward and backward) loads rsp with a heap address while it runs, so a signal handled
// there gets its frame written into the heap: glibc aborted ranks much later ("corrupted size
// vs. prev_size", "free(): invalid pointer") when Slurm's USR1 arrived in training. The engine
// blocks asynchronous signals on every thread that runs a primitive while it runs. The LSTM trains
// on the lane kernel by default (compiled code, no primitive): these tests train on oneDNN.
#include <gtest/gtest.h>
#include <omp.h>
#include <pthread.h>
#include <sys/time.h>
#include <ucontext.h>

#include <csignal>
#include <cstdint>
#include <vector>

#include "hlstm/model/lstm_train.hpp"
#include "hlstm/model/model.hpp"
#include "synthetic.hpp"

namespace hlstm::model {
namespace {

volatile std::sig_atomic_t gHandled = 0;
volatile std::sig_atomic_t gOffStack = 0;
std::uintptr_t gStackLow = 0, gStackHigh = 0;

// Counts the signals and those that interrupted the thread with rsp outside its stack. Runs
// on an alternate stack, so that without the engine's protection the test fails instead of
// corrupting its own heap.
extern "C" void onAlarm(int /*signal*/, siginfo_t* /*info*/, void* context) {
    gHandled = gHandled + 1;
    const auto* uc = static_cast<const ucontext_t*>(context);
    const auto rsp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
    if (rsp < gStackLow || rsp > gStackHigh) gOffStack = gOffStack + 1;
}

// Every test here trains on oneDNN's primitives.
class Signals : public ::testing::Test {
protected:
    void SetUp() override { setTrainingEngine(TrainingEngine::kOnednn); }
    void TearDown() override { setTrainingEngine(TrainingEngine::kLanes); }
};

TEST_F(Signals, NoSignalIsHandledInsideAPrimitive) {
    pthread_attr_t attr;
    ASSERT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
    void* low = nullptr;
    std::size_t size = 0;
    ASSERT_EQ(pthread_attr_getstack(&attr, &low, &size), 0);
    pthread_attr_destroy(&attr);
    gStackLow = reinterpret_cast<std::uintptr_t>(low);
    gStackHigh = gStackLow + size;

    std::vector<char> alternate(1 << 16);
    stack_t altStack{}, previousAltStack{};
    altStack.ss_sp = alternate.data();
    altStack.ss_size = alternate.size();
    ASSERT_EQ(sigaltstack(&altStack, &previousAltStack), 0);
    struct sigaction action {
    }, previousAction{};
    action.sa_sigaction = onAlarm;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    ASSERT_EQ(sigaction(SIGALRM, &action, &previousAction), 0);
    const itimerval every300us{{0, 300}, {0, 300}};
    ASSERT_EQ(setitimer(ITIMER_REAL, &every300us, nullptr), 0);

    // The grid of the run that crashed: S < 16 is padded to 16, 20 epochs of batch 256.
    const std::size_t points = 600, epochs = 30;
    const std::vector<float> series = test::syntheticSeries(points, epochs, 1.0, 7);
    const SeriesView view{series.data(), points, epochs};
    bool finite = true;
    for (int window : {8, 12})
        for (int layers : {1, 2})
            for (int units : {6, 8}) {
                ModelConfig config;
                config.window = window;
                config.layers = layers;
                config.units = units;
                TrainConfig train;
                train.epochs = 20;
                train.threads = 1;
                const Model model = fit(view, config, train, 11);
                finite = finite && model.summary.ok();
            }

    const itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    sigaction(SIGALRM, &previousAction, nullptr);
    sigaltstack(&previousAltStack, nullptr);
    EXPECT_TRUE(finite);
    EXPECT_GT(gHandled, 100) << "too few signals arrived during training to test anything";
    EXPECT_EQ(gOffStack, 0) << gOffStack << " of " << gHandled
                            << " signals were handled with rsp outside the thread's stack (in a JIT kernel)";
}

TEST_F(Signals, OpenMpWorkersThatRunPrimitivesBlockAsynchronousSignals) {
    const int previous = omp_get_max_threads();
    omp_set_num_threads(2);
    const std::size_t points = 300, epochs = 20;
    const std::vector<float> series = test::syntheticSeries(points, epochs, 1.0, 3);
    ModelConfig config;
    config.window = 8;
    config.layers = 1;
    config.units = 6;
    TrainConfig train;
    train.epochs = 1;
    train.threads = 2;
    (void)fit(SeriesView{series.data(), points, epochs}, config, train, 5);
    int blocked = 0, workers = 0;
#pragma omp parallel num_threads(2) reduction(+ : blocked, workers)
    {
        if (omp_get_thread_num() != 0) {
            sigset_t mask;
            pthread_sigmask(SIG_BLOCK, nullptr, &mask);
            ++workers;
            blocked += sigismember(&mask, SIGUSR1) == 1 && sigismember(&mask, SIGTERM) == 1 &&
                       sigismember(&mask, SIGALRM) == 1 && sigismember(&mask, SIGSEGV) == 0;
        }
    }
    // The calling thread gets its mask back after every primitive.
    sigset_t mine;
    pthread_sigmask(SIG_BLOCK, nullptr, &mine);
    omp_set_num_threads(previous);
    EXPECT_EQ(sigismember(&mine, SIGUSR1), 0);
    EXPECT_EQ(workers, 1);
    EXPECT_EQ(blocked, workers);
}

}  // namespace
}  // namespace hlstm::model
