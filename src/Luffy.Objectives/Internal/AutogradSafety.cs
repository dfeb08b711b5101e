using static TorchSharp.torch;

namespace Luffy.Objectives.Internal;

/// <summary>
/// What keeps the library's custom autograd functions from ending the process. TorchSharp calls a custom backward
/// from native code, and an exception thrown there cannot reach the caller of <c>backward()</c>: the process aborts.
/// So every condition that would make a custom backward fail is turned into an error of a built-in autograd node
/// that runs before it (<see cref="Guard"/>), and anything unforeseen into a gradient of the wrong shape, which
/// libtorch's engine refuses with a catchable error (<see cref="Backward"/>).
/// </summary>
internal static class AutogradSafety
{
    /// <summary>
    /// Per thread: a CPU backward runs on the thread that called <c>backward()</c>, so a thread's next loss step can never
    /// dispose a handle another thread's backward has just returned and TorchSharp has not yet read (a process-wide queue
    /// let a parallel test's step do that: wrong gradient values). The library's custom backward passes all run on the CPU.
    /// </summary>
    [ThreadStatic]
    private static Queue<Tensor>? orphans;

    /// <summary>
    /// <paramref name="output"/>, unchanged in value, behind built-in nodes that save a zero-element view of each
    /// watched tensor. A view shares its tensor's version counter, so autograd checks at backward, before the custom
    /// node behind them runs, that no watched tensor was modified in place since now (PyTorch's "modified by an
    /// inplace operation" error), and refuses a second backward through a graph that was not retained ("Trying to
    /// backward through the graph a second time"): both catchable, with PyTorch's own messages. The cost is a copy of
    /// <paramref name="output"/>'s elements (a (B, T) tensor, never (B, T, V)).
    /// </summary>
    /// <param name="output">A custom function's output (any shape). Not disposed.</param>
    /// <param name="watched">The tensors the custom backward reads (null entries are skipped). Not disposed.</param>
    /// <returns>A fresh tensor equal to <paramref name="output"/>; an alias when <paramref name="output"/> does not require grad.</returns>
    public static Tensor Guard(Tensor output, params Tensor?[] watched)
    {
        if (!output.requires_grad)
        {
            return output.alias();
        }
        using var scope = NewDisposeScope();
        Tensor flat = output.reshape(-1);
        Tensor guard = flat.narrow(0, 0, 0);
        // the multiply with a tensor that does not require grad saves that tensor: the version check runs on it
        guard = guard * zeros(0, dtype: output.dtype, device: output.device);
        foreach (Tensor? tensor in watched)
        {
            if (tensor is not null)
            {
                guard = guard * tensor.detach().as_strided([0], [1], tensor.storage_offset());
            }
        }
        return cat([flat, guard], 0).view(output.shape).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs a custom backward so that nothing escapes it: an exception is written to standard error and answered by an
    /// empty gradient for every tensor input, which the autograd engine rejects with a catchable error ("returned an
    /// invalid gradient") instead of the process ending.
    /// </summary>
    /// <param name="name">The function's name, for the message.</param>
    /// <param name="tensorInputs">For each forward argument, whether it was a (defined) tensor.</param>
    /// <param name="body">The backward.</param>
    public static List<Tensor> Backward(string name, bool[] tensorInputs, Func<List<Tensor>> body)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"Luffy.Objectives: the backward of {name} failed ({e.GetType().Name}: {e.Message}); autograd reports it as an invalid gradient.");
            return tensorInputs.Select(isTensor => isTensor ? empty(0) : null!).ToList();
        }
    }

    /// <summary>
    /// Takes a tensor a custom backward returned after its owner was disposed: TorchSharp keeps that handle until the
    /// backward has returned, so it is disposed at the next <see cref="DisposeOrphans"/> instead of by the finalizer.
    /// </summary>
    public static void Adopt(Tensor tensor) => (orphans ??= new Queue<Tensor>()).Enqueue(tensor);

    /// <summary>
    /// Disposes the handles <see cref="Adopt"/> took on the calling thread (called at the start of each fused loss step and
    /// each differentiable host select): a thread that only runs backward keeps its last step's handles until it computes again.
    /// </summary>
    public static void DisposeOrphans()
    {
        while (orphans is { Count: > 0 } queue)
        {
            queue.Dequeue().Dispose();
        }
    }
}
