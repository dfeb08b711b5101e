using System.Runtime.CompilerServices;
using Luffy.Objectives.Losses;
using static Luffy.Objectives.Internal.TensorMemory;
using static TorchSharp.torch;

namespace Luffy.Objectives.Internal;

/// <summary>
/// Read-only SIMD scans of CPU tensors that let the composed loss skip work that changes nothing: on the CPU a host read
/// costs no device sync, and one pass that writes nothing is cheaper than the ATen passes it saves (a clamp that clamps
/// nothing costs a forward pass and four backward dispatches, among them ATen's scalar <c>where</c>; a NaN check with
/// ATen writes a (B, T) bool tensor and reduces it). Accelerator tensors and other dtypes are not scanned
/// (<see cref="Supports"/>): their callers keep the sync-free form.
/// </summary>
internal static unsafe class HostScan
{
    /// <summary>Elements one parallel chunk scans.</summary>
    private const int ChunkElements = 1 << 16;

    /// <summary>Turns the scans off on the calling thread (<see cref="Supports"/> is false), so that tests run the unscanned path on the CPU.</summary>
    [ThreadStatic]
    internal static bool DisabledOnThisThread;

    /// <summary>Whether <paramref name="values"/> can be scanned: a CPU tensor of float32 or float64 with at most 2³¹ − 1 elements.</summary>
    public static bool Supports(Tensor values) =>
        !DisabledOnThisThread && values.device_type == TorchSharp.DeviceType.CPU && values.dtype is ScalarType.Float32 or ScalarType.Float64
        && values.numel() <= int.MaxValue;

    /// <summary>Whether any element is NaN (±∞ is not).</summary>
    /// <param name="values">A CPU tensor of float32 or float64 (<see cref="Supports"/>), any shape. Not disposed.</param>
    public static bool AnyNaN(Tensor values) => AnyNaNOrBeyond(values, double.PositiveInfinity);

    /// <summary>Whether any element is NaN or has |v| &gt; <paramref name="bound"/> (in the tensor's dtype; an element equal to ±bound is within).</summary>
    /// <param name="values">A CPU tensor of float32 or float64 (<see cref="Supports"/>), any shape. Not disposed.</param>
    /// <param name="bound">The bound, ≥ 0 (+∞: NaN only). For float32 it is rounded to float32 first, as ATen's clamp does with a scalar bound.</param>
    public static bool AnyNaNOrBeyond(Tensor values, double bound)
    {
        using var scope = NewDisposeScope();
        Tensor v = values.detach().contiguous();
        int n = (int)v.numel();
        void* start = Pointer(v);
        bool single = v.dtype == ScalarType.Float32;
        int lanes = FusedPolicyLoss.MaxLanes();
        bool Chunk(int chunk)
        {
            int from = chunk * ChunkElements, count = Math.Min(ChunkElements, n - from);
            if (!single)
            {
                return Scalar((double*)start + from, 0, count, bound);
            }
            float* x = (float*)start + from;
            float b = (float)bound;
            bool found = false;
            int done = lanes >= 16 ? Lanes<FloatLanes512>(x, count, b, out found)
                : lanes >= 8 ? Lanes<FloatLanes256>(x, count, b, out found)
                : 0;
            return found || Scalar(x, done, count, b);
        }
        int chunks = (n + ChunkElements - 1) / ChunkElements;
        if (chunks <= 1)
        {
            return n > 0 && Chunk(0);
        }
        int any = 0;
        Parallel.For(0, chunks, (chunk, state) =>
        {
            if (Volatile.Read(ref any) == 0 && Chunk(chunk))
            {
                Volatile.Write(ref any, 1);
                state.Stop();
            }
        });
        return any != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Lanes<TV>(float* x, int count, float bound, out bool found)
        where TV : unmanaged, IFloatLanes<TV>
    {
        TV limit = TV.Create(bound), zero = TV.Create(0), all = TV.Equal(zero, zero), violation = TV.LessThan(zero, zero);
        int j = 0;
        for (; j + TV.Count <= count; j += TV.Count)
        {
            TV value = TV.Load(x + j);
            violation |= TV.GreaterThan(TV.Abs(value), limit) | TV.AndNot(all, TV.Equal(value, value)); // beyond, or NaN
        }
        found = TV.Any(violation);
        return j;
    }

    private static bool Scalar<T>(T* x, int start, int count, T bound)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        for (int j = start; j < count; j++)
        {
            if (T.IsNaN(x[j]) || T.Abs(x[j]) > bound)
            {
                return true;
            }
        }
        return false;
    }
}
