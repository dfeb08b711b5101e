using Luffy.Objectives.Internal;

namespace Luffy.Objectives.Tests.Internal;

public class MaskedReductionsTests
{
    private static readonly MaskedReductions.Term[] Terms = [MaskedReductions.Term.Value, MaskedReductions.Term.Exp, MaskedReductions.Term.Difference];

    /// <summary>Random (B, T) values in [−5, 2] (and a second tensor for differences) and a mask with about 70% true.</summary>
    private static (double[,] X, double[,] Y, bool[,] Mask) Random(int seed, int b, int t)
    {
        var random = new Random(seed);
        var x = new double[b, t];
        var y = new double[b, t];
        var mask = new bool[b, t];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                x[i, j] = random.NextDouble() * 7 - 5;
                y[i, j] = random.NextDouble() * 7 - 5;
                mask[i, j] = random.NextDouble() < 0.7;
            }
        }
        return (x, y, mask);
    }

    /// <summary>The sum in double of each selected token's term, from the values as the tensor holds them (float32-rounded for float32), and Σ|term|.</summary>
    private static (double Sum, double Scale) Reference(double[,] x, double[,] y, bool[,] mask, MaskedReductions.Term term, ScalarType dtype)
    {
        double Round(double v) => dtype == ScalarType.Float32 ? (float)v : v;
        double sum = 0, scale = 0;
        for (int i = 0; i < x.GetLength(0); i++)
        {
            for (int j = 0; j < x.GetLength(1); j++)
            {
                if (!mask[i, j])
                {
                    continue;
                }
                double v = term switch
                {
                    MaskedReductions.Term.Exp => Math.Exp(Round(x[i, j])),
                    MaskedReductions.Term.Difference => Round(x[i, j]) - Round(y[i, j]),
                    _ => Round(x[i, j]),
                };
                sum += v;
                scale += Math.Abs(v);
            }
        }
        return (sum, scale);
    }

    [Property(MaxTest = 150)]
    public Property Sums_match_an_independent_double_computation_for_every_term_width_length_and_dtype() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            (from b in Gen.Choose(1, 12) from t in Gen.Choose(1, 300) select (b, t)).ToArbitrary(),
            (from lanes in Gen.Elements(16, 8, 1) from term in Gen.Elements(Terms) from dtype in Gen.Elements(ScalarType.Float32, ScalarType.Float64) select (lanes, term, dtype)).ToArbitrary(),
            (seed, shape, setting) =>
            {
                (int b, int t) = shape;
                (int lanes, MaskedReductions.Term term, ScalarType dtype) = setting;
                (double[,] x, double[,] y, bool[,] mask) = Random(seed, b, t);
                (double expected, double scale) = Reference(x, y, mask, term, dtype);
                using var scope = NewDisposeScope();
                double actual = LaneWidth.With(lanes, () => MaskedReductions.Sum(Tensors.From(x, dtype), Tensors.Mask(mask), term, Tensors.From(y, dtype)));
                // float32: each float lane adds at most 16 terms before its partial sum moves to a double (≤ 16 roundings
                // of 2^-24 relative to the terms it holds), a difference is rounded once, exp's relative error is below
                // 2e-7: 2e-6 of Σ|term| bounds them all. float64: a double sum of exactly computed terms (exp: Math.Exp).
                double tolerance = (dtype == ScalarType.Float32 ? 2e-6 : 1e-13) * Math.Max(scale, 1e-300);
                return (Math.Abs(actual - expected) <= tolerance)
                    .Label($"B={b} T={t} lanes={lanes} {term} {dtype}: {actual} vs {expected} (tolerance {tolerance})");
            });

    [Theory]
    [InlineData(16)]
    [InlineData(8)]
    [InlineData(1)]
    public void Unselected_nan_and_infinity_never_reach_a_sum(int lanes)
    {
        using var scope = NewDisposeScope();
        (double[,] x, double[,] y, bool[,] mask) = Random(3, 4, 37);
        for (int j = 0; j < 37; j++)
        {
            mask[1, j] = false;
            x[1, j] = j % 2 == 0 ? double.NaN : double.PositiveInfinity; // a whole unselected row of garbage, SIMD body and tail
            y[1, j] = double.NaN;
        }
        foreach (MaskedReductions.Term term in Terms)
        {
            (double expected, double scale) = Reference(x, y, mask, term, ScalarType.Float32);
            double actual = LaneWidth.With(lanes, () => MaskedReductions.Sum(Tensors.From(x, ScalarType.Float32), Tensors.Mask(mask), term, Tensors.From(y, ScalarType.Float32)));
            Assert.True(Math.Abs(actual - expected) <= 2e-6 * scale, $"{term}: {actual} vs {expected}");
        }
    }

    [Theory]
    [InlineData(0)] // in the first SIMD block
    [InlineData(36)] // in the scalar tail (T = 37)
    public void A_selected_nan_makes_the_sum_nan(int column)
    {
        using var scope = NewDisposeScope();
        (double[,] x, _, bool[,] mask) = Random(4, 2, 37);
        x[1, column] = double.NaN;
        mask[1, column] = true;
        foreach (ScalarType dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            Assert.True(double.IsNaN(MaskedReductions.Sum(Tensors.From(x, dtype), Tensors.Mask(mask))), dtype.ToString());
            Assert.True(double.IsNaN(MaskedReductions.Sum(Tensors.From(x, dtype), Tensors.Mask(mask), MaskedReductions.Term.Exp)), dtype.ToString());
        }
    }

    [Property(MaxTest = 100)]
    public Property Counts_match_for_any_length_with_and_without_a_second_mask() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), (from b in Gen.Choose(1, 9) from t in Gen.Choose(1, 70) select (b, t)).ToArbitrary(), (seed, shape) =>
        {
            (int b, int t) = shape;
            (_, _, bool[,] first) = Random(seed, b, t);
            (_, _, bool[,] second) = Random(seed + 1, b, t);
            long expected = 0, expectedBoth = 0;
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < t; j++)
                {
                    expected += first[i, j] ? 1 : 0;
                    expectedBoth += first[i, j] && second[i, j] ? 1 : 0;
                }
            }
            using var scope = NewDisposeScope();
            return MaskedReductions.Count(Tensors.Mask(first)) == expected && MaskedReductions.Count(Tensors.Mask(first), Tensors.Mask(second)) == expectedBoth;
        });

    [Fact]
    public void A_count_with_a_mask_of_another_shape_broadcasts_as_the_tensor_ops_do()
    {
        using var scope = NewDisposeScope();
        (_, _, bool[,] mask) = Random(5, 4, 37);
        Tensor full = Tensors.Mask(mask);
        long expected = full.sum().item<long>();
        Assert.Equal(0, MaskedReductions.Count(zeros(4, 1, dtype: ScalarType.Bool), full)); // an empty set as (B, 1)
        Assert.Equal(expected, MaskedReductions.Count(full, ones(4, 1, dtype: ScalarType.Bool)));
        Tensor firstRow = zeros(4, 1, dtype: ScalarType.Bool);
        firstRow[0] = tensor(true);
        Assert.Equal(full[0].sum().item<long>(), MaskedReductions.Count(full, firstRow));
    }

    [Fact]
    public void A_difference_without_a_subtrahend_is_refused()
    {
        using var scope = NewDisposeScope();
        var ex = Assert.Throws<ArgumentNullException>(() => MaskedReductions.Sum(ones(2, 3), ones(2, 3, dtype: ScalarType.Bool), MaskedReductions.Term.Difference));
        Assert.Equal("subtrahend", ex.ParamName);
    }

    [Fact]
    public void Only_cpu_float32_and_float64_tensors_are_reduced_on_the_host()
    {
        using var scope = NewDisposeScope();
        Assert.True(MaskedReductions.Supports(ones(2, 3)));
        Assert.True(MaskedReductions.Supports(ones(2, 3, dtype: ScalarType.Float64)));
        Assert.False(MaskedReductions.Supports(ones(2, 3, dtype: ScalarType.BFloat16)));
        Assert.False(MaskedReductions.Supports(ones(2, 3, dtype: ScalarType.Float16)));
        MaskedReductions.DisabledOnThisThread = true;
        try
        {
            Assert.False(MaskedReductions.Supports(ones(2, 3)));
        }
        finally
        {
            MaskedReductions.DisabledOnThisThread = false;
        }
    }
}
