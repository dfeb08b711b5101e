using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Luffy.Objectives.Losses;
using static Luffy.Objectives.Internal.TensorMemory;
using static TorchSharp.torch;

namespace Luffy.Objectives.Internal;

/// <summary>
/// Sums and counts over the selected tokens of (B, T) CPU tensors, one pass each and no temporaries: the composed loss's
/// deferred metrics on the CPU. With TorchSharp ops each sum is a where, a row sum and a conversion — three passes and two
/// (B, T) temporaries (where is ATen's scalar kernel on the CPU) — which made reading the metrics cost 15–25 ms per step at
/// (256, 4096) on an AMD EPYC with AVX2 (benchmarks/results/composed-vs-reference-amd-epyc-avx2.md). Rows run in parallel;
/// each row is summed in float lanes flushed to a double every <see cref="FlushTokens"/> tokens (float64 tensors: in
/// double), and the row sums are added in row order, so a result does not depend on the thread count. Accelerator tensors
/// and other dtypes keep the TorchSharp ops (<see cref="Supports"/>).
/// </summary>
internal static unsafe class MaskedReductions
{
    /// <summary>What a sum adds per selected token.</summary>
    public enum Term
    {
        /// <summary>The value.</summary>
        Value,

        /// <summary>exp(value) (<see cref="LaneMath.Exp{TV}"/>: relative error below 2e-7; float64: Math.Exp).</summary>
        Exp,

        /// <summary>value − subtrahend.</summary>
        Difference,
    }

    /// <summary>Tokens a float lane adds before its partial sum moves to a double (bounds the float rounding to ~16 additions).</summary>
    private const int FlushTokens = 128;

    private const int RowsPerBlock = 8;

    /// <summary>Turns the host reductions off on the calling thread, so that tests run the accelerators' TorchSharp path on the CPU.</summary>
    [ThreadStatic]
    internal static bool DisabledOnThisThread;

    /// <summary>Whether <paramref name="values"/> (and so the metrics of its step) can be reduced here: a CPU tensor of float32 or float64.</summary>
    public static bool Supports(Tensor values) =>
        !DisabledOnThisThread && values.device_type == TorchSharp.DeviceType.CPU && values.dtype is ScalarType.Float32 or ScalarType.Float64;

    /// <summary>
    /// Σ over the tokens where <paramref name="selection"/> is true of <paramref name="term"/> of <paramref name="values"/>;
    /// unselected tokens are never read into the sum (NaN there does not leak).
    /// </summary>
    /// <param name="values">(B, T), float32 or float64, on the CPU.</param>
    /// <param name="selection">(B, T) bool.</param>
    /// <param name="term">What each selected token adds.</param>
    /// <param name="subtrahend">For <see cref="Term.Difference"/>: (B, T), the dtype of <paramref name="values"/>.</param>
    public static double Sum(Tensor values, Tensor selection, Term term = Term.Value, Tensor? subtrahend = null)
    {
        using var scope = NewDisposeScope();
        Tensor v = values.detach().contiguous(), s = TensorGuard.AsBoolMask(selection).contiguous();
        Tensor? w = term == Term.Difference ? (subtrahend ?? throw new ArgumentNullException(nameof(subtrahend))).detach().contiguous() : null;
        int b = (int)v.shape[0], t = (int)v.shape[1];
        bool* mask = (bool*)Pointer(s);
        void* x = Pointer(v), y = w is null ? null : Pointer(w);
        bool single = v.dtype == ScalarType.Float32;
        int lanes = FusedPolicyLoss.MaxLanes();
        var rows = new double[b];
        Parallel.For(0, (b + RowsPerBlock - 1) / RowsPerBlock, block =>
        {
            for (int i = block * RowsPerBlock, end = Math.Min(b, (block + 1) * RowsPerBlock); i < end; i++)
            {
                long row = (long)i * t;
                if (!single)
                {
                    rows[i] = RowSumScalar((double*)x + row, y is null ? null : (double*)y + row, mask + row, 0, t, term);
                    continue;
                }
                float* xr = (float*)x + row, yr = y is null ? null : (float*)y + row;
                rows[i] = lanes >= 16 ? RowSum<FloatLanes512>(xr, yr, mask + row, t, term)
                    : lanes >= 8 ? RowSum<FloatLanes256>(xr, yr, mask + row, t, term)
                    : RowSumScalar(xr, yr, mask + row, 0, t, term);
            }
        });
        double total = 0;
        foreach (double r in rows)
        {
            total += r;
        }
        return total;
    }

    /// <summary>The number of true tokens of <paramref name="selection"/> (and of <paramref name="and"/>, when given).</summary>
    /// <param name="selection">(B, T) bool, on the CPU.</param>
    /// <param name="and">(B, T) bool (or a shape that broadcasts with <paramref name="selection"/>'s), or <see langword="null"/>.</param>
    public static long Count(Tensor selection, Tensor? and = null)
    {
        using var scope = NewDisposeScope();
        Tensor s = TensorGuard.AsBoolMask(selection).contiguous();
        Tensor? a = and is null ? null : TensorGuard.AsBoolMask(and).contiguous();
        if (a is not null && !a.shape.SequenceEqual(s.shape))
        {
            s = s.logical_and(a).contiguous(); // shapes that broadcast (an empty set is (B, 1)): one mask of the full shape
            a = null;
        }
        return CountTrue((bool*)Pointer(s), a is null ? null : (bool*)Pointer(a), s.numel());
    }

    /// <summary>
    /// The number of positions among <paramref name="count"/> where <paramref name="values"/> (and <paramref name="and"/>,
    /// when not null) are true, 32 at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static long CountTrue(bool* values, bool* and, long count)
    {
        long n = 0, j = 0;
        byte* x = (byte*)values, y = (byte*)and;
        for (; j + 32 <= count; j += 32)
        {
            Vector256<byte> v = y is null ? Vector256.Load(x + j) : Vector256.Load(x + j) & Vector256.Load(y + j);
            n += BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.GreaterThan(v, Vector256<byte>.Zero)));
        }
        for (; j < count; j++)
        {
            n += values[j] && (and is null || and[j]) ? 1 : 0;
        }
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double RowSum<TV>(float* x, float* y, bool* mask, int t, Term term)
        where TV : unmanaged, IFloatLanes<TV>
    {
        double total = 0;
        int j = 0;
        while (j + TV.Count <= t)
        {
            int stop = Math.Min(t - TV.Count, j + FlushTokens - TV.Count);
            TV partial = default;
            for (; j <= stop; j += TV.Count)
            {
                if (!TV.AnyTrue(mask + j))
                {
                    continue;
                }
                TV v = TV.Load(x + j);
                v = term switch
                {
                    Term.Exp => LaneMath.Exp(v),
                    Term.Difference => v - TV.Load(y + j),
                    _ => v,
                };
                partial += TV.Where(TV.LoadMask(mask + j), v);
            }
            total += TV.Sum(partial);
        }
        return total + RowSumScalar(x, y, mask, j, t, term);
    }

    private static double RowSumScalar<T>(T* x, T* y, bool* mask, int start, int t, Term term)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        double total = 0;
        for (int j = start; j < t; j++)
        {
            if (!mask[j])
            {
                continue;
            }
            T v = term switch
            {
                Term.Exp => T.Exp(x[j]),
                Term.Difference => x[j] - y[j],
                _ => x[j],
            };
            total += double.CreateTruncating(v);
        }
        return total;
    }
}
