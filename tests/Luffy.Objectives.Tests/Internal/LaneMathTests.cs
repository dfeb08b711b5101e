using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Luffy.Objectives.Internal;
using Luffy.Objectives.Losses;

namespace Luffy.Objectives.Tests.Internal;

/// <summary>
/// <see cref="LaneMath.Exp{TV}"/> lane by lane against <see cref="Math.Exp"/> in double, at each SIMD width this machine
/// runs, within the documented relative bound 2e-7. The result does not depend on the CPU: every step is a correctly
/// rounded IEEE operation (FMA included) or an exact scaling by 2^n, so both widths give the same bits everywhere; the
/// worst of the dense sweep is 8.1e-8 (at x ≈ 26.015).
/// </summary>
public unsafe class LaneMathTests
{
    private const double Bound = 2e-7;

    /// <summary>The widths the kernels would use here: 16 (AVX-512) and 8 (AVX2), where the hardware runs them.</summary>
    private static readonly int[] Accelerated = [.. new[] { (16, FloatLanes512.IsAccelerated), (8, FloatLanes256.IsAccelerated) }.Where(w => w.Item2).Select(w => w.Item1)];

    /// <summary><see cref="Accelerated"/>, or 0 where there is none: the test then checks that the kernels take the scalar path.</summary>
    public static TheoryData<int> Widths() => Accelerated.Length == 0 ? [0] : [.. Accelerated];

    /// <summary><see cref="LaneMath.Exp{TV}"/> (or <see cref="LaneMath.ExpNearZero{TV}"/>) of every element, a register at a time.</summary>
    private static float[] Exp<TV>(float[] x, bool nearZero)
        where TV : unmanaged, IFloatLanes<TV>
    {
        var result = new float[x.Length];
        fixed (float* source = x, destination = result)
        {
            for (int i = 0; i + TV.Count <= x.Length; i += TV.Count)
            {
                TV v = TV.Load(source + i);
                TV.Store(nearZero ? LaneMath.ExpNearZero(v) : LaneMath.Exp(v), destination + i);
            }
        }
        return result;
    }

    /// <summary>exp of <paramref name="x"/> (its length a multiple of 16) at <paramref name="width"/> lanes.</summary>
    private static float[] Exp(int width, float[] x, bool nearZero = false) => width == 16 ? Exp<FloatLanes512>(x, nearZero) : Exp<FloatLanes256>(x, nearZero);

    /// <summary>Where this machine runs no SIMD width (<paramref name="width"/> 0), checks that the kernels take the scalar path.</summary>
    private static bool NoSimdHere(int width)
    {
        if (width == 0)
        {
            Assert.Equal(1, FusedPolicyLoss.MaxLanes());
        }
        return width == 0;
    }

    private static double RelativeError(float x, float actual) => Math.Abs(actual - Math.Exp(x)) / Math.Exp(x);

    [Theory]
    [MemberData(nameof(Widths))]
    public void A_dense_sweep_of_float_s_normal_range_is_within_the_documented_bound(int width)
    {
        if (NoSimdHere(width))
        {
            return;
        }
        // every 2^−10 from −87.3 (e^x normal) to 88 (2^n ≤ 2^127), and the float neighbours of the reduction's
        // half-way points x = (k + ½)·ln2, where the rounding of x·log2 e decides n
        var xs = new List<float>();
        for (double x = -87.3; x <= 88; x += 1.0 / 1024)
        {
            xs.Add((float)x);
        }
        for (int k = -126; k <= 126; k++)
        {
            float half = (float)((k + 0.5) * Math.Log(2));
            xs.AddRange([MathF.BitDecrement(half), half, MathF.BitIncrement(half)]);
        }
        while (xs.Count % 16 != 0)
        {
            xs.Add(0f);
        }
        float[] input = [.. xs];
        float[] actual = Exp(width, input);
        double worst = 0;
        float worstAt = 0;
        for (int i = 0; i < input.Length; i++)
        {
            double error = RelativeError(input[i], actual[i]);
            if (!(error <= worst))
            {
                (worst, worstAt) = (error, input[i]);
            }
        }
        Assert.True(worst < Bound, $"relative error {worst:E3} at x = {worstAt:R} ({width} lanes)");
    }

    [Property(MaxTest = 300)]
    public Property Every_lane_is_its_own_exp_within_the_bound() =>
        Prop.ForAll(
            Gen.ArrayOf(Gen.Choose(-873_000, 880_000).Select(k => k / 10_000f), 16).ToArbitrary(),
            xs => Accelerated.All(width => Exp(width, xs).Select((e, i) => RelativeError(xs[i], e) < Bound).All(ok => ok)));

    [Theory]
    [MemberData(nameof(Widths))]
    public void Near_zero_the_polynomial_alone_gives_exp_s_bits(int width)
    {
        if (NoSimdHere(width))
        {
            return;
        }
        // every float from −bound to bound in steps of 2^−20 (and the bound's neighbours inside, NaN): there n = 0, so
        // the reduction and the scaling change nothing and ExpNearZero must give ExpInRange's (Exp's) bits exactly
        var xs = new List<float> { LaneMath.NearZeroBound, -LaneMath.NearZeroBound, MathF.BitDecrement(LaneMath.NearZeroBound), -MathF.BitDecrement(LaneMath.NearZeroBound), float.NaN, 0f, -0f };
        for (int k = -(int)(LaneMath.NearZeroBound * (1 << 20)); k <= (int)(LaneMath.NearZeroBound * (1 << 20)); k++)
        {
            xs.Add(k / (float)(1 << 20));
        }
        while (xs.Count % 16 != 0)
        {
            xs.Add(0.25f);
        }
        float[] input = [.. xs];
        float[] near = Exp(width, input, nearZero: true);
        float[] full = Exp(width, input);
        for (int i = 0; i < input.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(near[i]) == BitConverter.SingleToInt32Bits(full[i]) || (float.IsNaN(near[i]) && float.IsNaN(full[i])),
                $"x = {input[i]:R}: near zero {near[i]:R}, exp {full[i]:R} ({width} lanes)");
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Nan_stays_nan_and_the_ends_are_clamped(int width)
    {
        if (NoSimdHere(width))
        {
            return;
        }
        float[] input = [float.NaN, -88f, -100f, float.NegativeInfinity, 0f, 1f, -1f, 88f, float.NaN, -1e30f, 0.5f, -0.5f, 10f, -10f, 20f, -20f];
        float[] actual = Exp(width, input);
        Assert.True(float.IsNaN(actual[0]) && float.IsNaN(actual[8]), "NaN in, NaN out");
        foreach (int i in new[] { 1, 2, 3, 9 })
        {
            // below float's normal range: a value under 1e-38 (0 with AVX2, a denormal with AVX-512), never negative or NaN
            Assert.True(actual[i] is >= 0 and < 1e-38f, $"exp({input[i]}) = {actual[i]} ({width} lanes)");
        }
        Assert.Equal(1f, actual[4]); // e^0: the polynomial's constant term exactly
        foreach (int i in new[] { 5, 6, 7, 10, 11, 12, 13, 14, 15 })
        {
            Assert.True(RelativeError(input[i], actual[i]) < Bound, $"exp({input[i]}) = {actual[i]} ({width} lanes)");
        }
    }
}
