using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Luffy.Objectives.Internal;

/// <summary>Sixteen float32 lanes (AVX-512F), used where the runtime reports 512-bit vectors as accelerated.</summary>
internal readonly unsafe struct FloatLanes512 : IFloatLanes<FloatLanes512>
{
    private readonly Vector512<float> value;

    private FloatLanes512(Vector512<float> value) => this.value = value;

    public static int Count => Vector512<float>.Count;

    public static bool IsAccelerated => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Create(float value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Load(float* source) => new(Vector512.Load(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(FloatLanes512 value, float* destination) => value.value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 LoadMask(bool* source) => new((Vector512<int>.Zero - Avx512F.ConvertToVector512Int32(Vector128.Load((byte*)source))).AsSingle()); // 0 − 1 = all bits: two operations (a compare would go through a mask register and back)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Any(FloatLanes512 mask) => Vector512.ExtractMostSignificantBits(mask.value) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyGreaterThan(FloatLanes512 left, FloatLanes512 right) => Vector512.GreaterThanAny(left.value, right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AnyTrue(bool* source) => (((ulong*)source)[0] | ((ulong*)source)[1]) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(FloatLanes512 value) => Vector512.Sum(value.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 CountWhere(FloatLanes512 counts, FloatLanes512 mask) => new((counts.value.AsInt32() - mask.value.AsInt32()).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 CountWhereGreaterThan(FloatLanes512 counts, FloatLanes512 left, FloatLanes512 right, FloatLanes512 mask) =>
        new(Vector512.ConditionalSelect(Vector512.GreaterThan(left.value, right.value).AsInt32(), counts.value.AsInt32() - mask.value.AsInt32(), counts.value.AsInt32()).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long SumCounts(FloatLanes512 counts) => Vector512.Sum(Vector512.WidenLower(counts.value.AsInt32()) + Vector512.WidenUpper(counts.value.AsInt32()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 AndNot(FloatLanes512 left, FloatLanes512 right) => new(Vector512.AndNot(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Where(FloatLanes512 mask, FloatLanes512 value) => new(Vector512.ConditionalSelect(mask.value, value.value, Vector512<float>.Zero));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Select(FloatLanes512 mask, FloatLanes512 whenTrue, FloatLanes512 whenFalse) => new(Vector512.ConditionalSelect(mask.value, whenTrue.value, whenFalse.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Min(FloatLanes512 left, FloatLanes512 right) => new(Vector512.MinNative(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Max(FloatLanes512 left, FloatLanes512 right) => new(Vector512.MaxNative(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Abs(FloatLanes512 value) => new(Vector512.Abs(value.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 FusedMultiplyAdd(FloatLanes512 a, FloatLanes512 b, FloatLanes512 c) => new(Vector512.FusedMultiplyAdd(a.value, b.value, c.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 ScaleByPowerOfTwo(FloatLanes512 value, FloatLanes512 n, FloatLanes512 shifted) => new(Avx512F.Scale(value.value, n.value)); // vscalefps

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 Equal(FloatLanes512 left, FloatLanes512 right) => new(Vector512.Equals(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 EqualOrUnordered(FloatLanes512 left, FloatLanes512 right) => new(Avx512F.Compare(left.value, right.value, FloatComparisonMode.UnorderedEqualNonSignaling));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 LessThan(FloatLanes512 left, FloatLanes512 right) => new(Vector512.LessThan(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 GreaterThan(FloatLanes512 left, FloatLanes512 right) => new(Vector512.GreaterThan(left.value, right.value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 operator +(FloatLanes512 left, FloatLanes512 right) => new(left.value + right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 operator -(FloatLanes512 left, FloatLanes512 right) => new(left.value - right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 operator *(FloatLanes512 left, FloatLanes512 right) => new(left.value * right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 operator /(FloatLanes512 left, FloatLanes512 right) => new(left.value / right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 operator -(FloatLanes512 value) => new(-value.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 operator &(FloatLanes512 left, FloatLanes512 right) => new(left.value & right.value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FloatLanes512 operator |(FloatLanes512 left, FloatLanes512 right) => new(left.value | right.value);
}
