using System.Runtime.CompilerServices;

namespace Luffy.Objectives.Internal;

/// <summary>Element functions over SIMD lanes, shared by the fused loss kernel and the host-side masked reductions.</summary>
internal static class LaneMath
{
    /// <summary>
    /// 1.5·2^23 + 127: a float in [2^23, 2^24) has no fraction bits, so adding it rounds to an integer, and the sum's low
    /// mantissa bits are n + 127, 2^n's exponent field (the high bits of 1.5·2^23 fall out of a shift by 23).
    /// </summary>
    internal const float Shifter = 12583039f;

    /// <summary>
    /// exp of every lane: Cody–Waite range reduction x = n·ln2 + r (n rounded by a shifter), a degree-6 polynomial for e^r (Cephes expf;
    /// relative error below 2e-7 over float's normal range), then scaling by 2^n. Inputs are clamped to
    /// [−87.9, 88.4]; NaN stays NaN. Below float's normal range (x &lt; −87.3) the result is under 1e-38 rather than
    /// e^x (0 with AVX2, whose 2^−127 has zero exponent bits; a denormal with AVX-512's vscalefps), which no sum or
    /// gradient here can tell apart.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<TV>(TV x)
        where TV : unmanaged, IFloatLanes<TV>
        => ExpInRange(TV.Min(TV.Create(88.3762626647949f), TV.Max(TV.Create(-87.9f), x)));

    /// <summary><see cref="Exp{TV}"/> for inputs already inside [−87.9, 88.4] (or NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpInRange<TV>(TV x)
        where TV : unmanaged, IFloatLanes<TV>
    {
        // n = round(x·log2 e) by the shifter: x·log2 e + shifter rounds to an integer (ties to even) in one FMA, and the
        // sum's low mantissa bits are n + 127, which AVX2 shifts into 2^n without a conversion or an add (shorter than a
        // round instruction on the loss kernel's critical path).
        TV shifted = TV.FusedMultiplyAdd(x, TV.Create(1.44269504088896341f), TV.Create(Shifter));
        TV n = shifted - TV.Create(Shifter);
        TV r = TV.FusedMultiplyAdd(n, TV.Create(-0.693359375f), x);
        r = TV.FusedMultiplyAdd(n, TV.Create(2.12194440e-4f), r);
        return TV.ScaleByPowerOfTwo(Polynomial(r), n, shifted);
    }

    /// <summary>
    /// <see cref="ExpInRange{TV}"/> for inputs with |x| ≤ <see cref="NearZeroBound"/> (or NaN), where its n is 0: the
    /// polynomial alone, the same bits without the reduction and the scaling (five dependent steps fewer). The loss
    /// kernel's ratios e^(log p − old) are nearly all there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpNearZero<TV>(TV x)
        where TV : unmanaged, IFloatLanes<TV>
        => Polynomial(x);

    /// <summary>
    /// The bound of <see cref="ExpNearZero{TV}"/>: |x·log2 e| ≤ 0.4906 &lt; ½, so the shifter rounds x·log2 e to n = 0,
    /// the reduction leaves x as it is, and 2^0 scales exactly.
    /// </summary>
    internal const float NearZeroBound = 0.34f;

    /// <summary>e^r for |r| ≤ ln2/2 (Cephes expf's degree-6 polynomial).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Polynomial<TV>(TV r)
        where TV : unmanaged, IFloatLanes<TV>
    {
        // Estrin's scheme: the three pairs and r² independent of each other, then two FMAs (Horner's needs five in a row)
        TV r2 = r * r;
        TV c01 = TV.FusedMultiplyAdd(TV.Create(1.6666665459E-1f), r, TV.Create(5.0000001201E-1f));
        TV c23 = TV.FusedMultiplyAdd(TV.Create(8.3334519073E-3f), r, TV.Create(4.1665795894E-2f));
        TV c45 = TV.FusedMultiplyAdd(TV.Create(1.9875691500E-4f), r, TV.Create(1.3981999507E-3f));
        TV p = TV.FusedMultiplyAdd(TV.FusedMultiplyAdd(c45, r2, c23), r2, c01);
        return TV.FusedMultiplyAdd(p, r2, r) + TV.Create(1f);
    }
}
