using Luffy.Objectives.Internal;

namespace Luffy.Objectives.Tests.Internal;

/// <summary>The host scans against element-by-element answers computed here, for every lane width, dtype and length (across the parallel chunks).</summary>
public class HostScanTests
{
    private static readonly double[] Specials = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 20.0, -20.0];

    /// <summary>Values in [−20, 20] with a few specials (NaN, ±∞, ±20 exactly, values just beyond ±20) at random places; rare, so that most inputs have none.</summary>
    private static double[] Values(int seed, int n, int specials)
    {
        var random = new Random(seed);
        var values = new double[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = random.NextDouble() * 40 - 20;
        }
        for (int k = 0; k < specials && n > 0; k++)
        {
            int at = random.Next(n);
            values[at] = random.Next(3) == 0 ? MathF.BitIncrement(20f) * (random.Next(2) == 0 ? 1 : -1) : Specials[random.Next(Specials.Length)];
        }
        return values;
    }

    [Property(MaxTest = 200)]
    public Property Nan_or_beyond_the_bound_is_found_exactly_where_an_element_is() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            Gen.OneOf(Gen.Choose(0, 100), Gen.Choose(65_000, 140_000)).ToArbitrary(), // one chunk, and several (65,536 elements each)
            (from lanes in Gen.Elements(16, 8, 1) from dtype in Gen.Elements(ScalarType.Float32, ScalarType.Float64) from specials in Gen.Choose(0, 2) select (lanes, dtype, specials)).ToArbitrary(),
            (seed, n, setting) =>
            {
                (int lanes, ScalarType dtype, int specials) = setting;
                double[] values = Values(seed, n, specials);
                using var scope = NewDisposeScope();
                Tensor t = Tensors.From(values, dtype);
                // independently: each element rounded to the dtype, then compared in double
                double Round(double v) => dtype == ScalarType.Float32 ? (float)v : v;
                bool expectedBeyond = values.Any(v => double.IsNaN(v) || Math.Abs(Round(v)) > 20);
                bool expectedNaN = values.Any(double.IsNaN);
                bool beyond = LaneWidth.With(lanes, () => HostScan.AnyNaNOrBeyond(t, 20));
                bool nan = LaneWidth.With(lanes, () => HostScan.AnyNaN(t));
                return (beyond == expectedBeyond && nan == expectedNaN).Label($"n={n} lanes={lanes} {dtype}: beyond {beyond} (expected {expectedBeyond}), NaN {nan} (expected {expectedNaN})");
            });

    [Theory]
    [InlineData(16, ScalarType.Float32)]
    [InlineData(8, ScalarType.Float32)]
    [InlineData(1, ScalarType.Float32)]
    [InlineData(1, ScalarType.Float64)]
    public void One_special_element_is_found_at_every_position_of_a_lane_and_of_the_tail(int lanes, ScalarType dtype)
    {
        const int n = 16 * 3 + 5;
        foreach (double special in new[] { double.NaN, 20.5, -21.0, double.PositiveInfinity, double.NegativeInfinity })
        {
            for (int at = 0; at < n; at++)
            {
                var values = new double[n];
                values[at] = special;
                using var scope = NewDisposeScope();
                Tensor t = Tensors.From(values, dtype);
                Assert.True(LaneWidth.With(lanes, () => HostScan.AnyNaNOrBeyond(t, 20)), $"{special} at {at}");
                Assert.Equal(double.IsNaN(special), LaneWidth.With(lanes, () => HostScan.AnyNaN(t)));
            }
        }
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float64)]
    public void The_bound_itself_and_infinities_under_an_infinite_bound_are_within(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        Tensor atBound = Tensors.From([20.0, -20.0, 0.0, -0.0], dtype);
        Assert.False(HostScan.AnyNaNOrBeyond(atBound, 20));
        Tensor infinities = Tensors.From([double.PositiveInfinity, double.NegativeInfinity, 1.0], dtype);
        Assert.True(HostScan.AnyNaNOrBeyond(infinities, 20));
        Assert.False(HostScan.AnyNaN(infinities));
        Assert.False(HostScan.AnyNaN(empty(0, dtype: dtype)));
    }

    [Fact]
    public void A_strided_view_is_scanned_by_its_elements_only()
    {
        using var scope = NewDisposeScope();
        Tensor storage = tensor(new float[] { 1, float.NaN, 2, 30, 3, float.NaN }).reshape(3, 2);
        Tensor firstColumn = storage.select(1, 0); // 1, 2, 3: the NaNs and 30 are in the other column
        Assert.False(HostScan.AnyNaNOrBeyond(firstColumn, 20));
        Assert.True(HostScan.AnyNaNOrBeyond(storage.select(1, 1), 20));
    }

    [Theory]
    [InlineData("bfloat16")]
    [InlineData("int64")]
    [InlineData("disabled")]
    public void What_the_host_does_not_scan_is_not_supported(string kind)
    {
        using var scope = NewDisposeScope();
        Tensor t = kind switch
        {
            "bfloat16" => ones(4, dtype: ScalarType.BFloat16),
            "int64" => ones(4, dtype: ScalarType.Int64),
            _ => ones(4),
        };
        HostScan.DisabledOnThisThread = kind == "disabled";
        try
        {
            Assert.False(HostScan.Supports(t));
        }
        finally
        {
            HostScan.DisabledOnThisThread = false;
        }
        Assert.Equal(kind == "disabled", HostScan.Supports(t));
    }
}
