using Luffy.Objectives.Internal;

namespace Luffy.Objectives.Tests.Internal;

/// <summary>
/// The host select against element-wise expectations and <c>torch.where</c>. Runs in <see cref="Losses.LossMemoryTests"/>'
/// sequential collection, as the other live-tensor counts do (TorchSharp's statistics are per thread).
/// </summary>
[Collection(nameof(Losses.LossMemoryTests))]
public class HostSelectTests
{
    private static readonly double[] Specials = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 0.0];

    /// <summary>Random (B, T) values in [−5, 5] with about one in eight replaced by NaN, ±∞ or ±0, and a mask with about 60% true.</summary>
    private static (double[,] X, double[,] Y, bool[,] Mask) Random(int seed, int b, int t)
    {
        var random = new Random(seed);
        double Value() => random.Next(8) == 0 ? Specials[random.Next(Specials.Length)] : random.NextDouble() * 10 - 5;
        var x = new double[b, t];
        var y = new double[b, t];
        var mask = new bool[b, t];
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < t; j++)
            {
                x[i, j] = Value();
                y[i, j] = Value();
                mask[i, j] = random.NextDouble() < 0.6;
            }
        }
        return (x, y, mask);
    }

    /// <summary>The selection computed here, element by element: x where the mask holds, y (or +0) elsewhere, rounded to the dtype.</summary>
    private static double[] Expected(double[,] x, double[,]? y, bool[,] mask, ScalarType dtype)
    {
        double Round(double v) => dtype == ScalarType.Float32 ? (float)v : v;
        var expected = new List<double>();
        for (int i = 0; i < x.GetLength(0); i++)
        {
            for (int j = 0; j < x.GetLength(1); j++)
            {
                expected.Add(mask[i, j] ? Round(x[i, j]) : y is null ? 0.0 : Round(y[i, j]));
            }
        }
        return [.. expected];
    }

    /// <summary>Equal as IEEE values: the same bits after widening (NaN equals NaN, −0 differs from +0).</summary>
    private static bool SameBits(double[] expected, double[] actual) =>
        expected.Length == actual.Length && expected.Zip(actual).All(p => BitConverter.DoubleToInt64Bits(p.First) == BitConverter.DoubleToInt64Bits(p.Second)
            || (double.IsNaN(p.First) && double.IsNaN(p.Second)));

    [Property(MaxTest = 150)]
    public Property Values_are_the_selected_elements_bit_for_bit_for_every_width_length_and_dtype() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            (from b in Gen.Choose(1, 11) from t in Gen.Choose(1, 90) select (b, t)).ToArbitrary(),
            (from lanes in Gen.Elements(16, 8, 1) from dtype in Gen.Elements(ScalarType.Float32, ScalarType.Float64) from zeroElsewhere in Gen.Elements(true, false) select (lanes, dtype, zeroElsewhere)).ToArbitrary(),
            (seed, shape, setting) =>
            {
                (int b, int t) = shape;
                (int lanes, ScalarType dtype, bool zeroElsewhere) = setting;
                (double[,] x, double[,] y, bool[,] mask) = Random(seed, b, t);
                using var scope = NewDisposeScope();
                Tensor zero = zeros(1, dtype: dtype);
                Tensor actual = LaneWidth.With(lanes, () => HostSelect.Where(Tensors.Mask(mask), Tensors.From(x, dtype), zeroElsewhere ? null : Tensors.From(y, dtype), zero));
                return (SameBits(Expected(x, zeroElsewhere ? null : y, mask, dtype), Tensors.ToArray(actual)) && actual.dtype == dtype && actual.shape.SequenceEqual(new long[] { b, t }))
                    .Label($"B={b} T={t} lanes={lanes} {dtype} zero elsewhere: {zeroElsewhere}");
            });

    [Property(MaxTest = 100)]
    public Property A_side_broadcast_along_T_is_read_one_value_per_row_bit_for_bit() =>
        Prop.ForAll(
            Gen.Choose(0, 1_000_000).ToArbitrary(),
            (from b in Gen.Choose(1, 11) from t in Gen.Choose(2, 90) select (b, t)).ToArbitrary(),
            (from lanes in Gen.Elements(16, 8, 1) from dtype in Gen.Elements(ScalarType.Float32, ScalarType.Float64) from side in Gen.Elements("x", "y", "both", "x, y zero") from scalar in Gen.Elements(true, false) select (lanes, dtype, side, scalar)).ToArbitrary(),
            (seed, shape, setting) =>
            {
                (int b, int t) = shape;
                (int lanes, ScalarType dtype, string side, bool scalar) = setting;
                (double[,] x, double[,] y, bool[,] mask) = Random(seed, b, t);
                using var scope = NewDisposeScope();
                // a broadcast side holds one value per row (scalar: one value in all), expanded to (B, T) with column stride 0
                Tensor Broadcast(double[,] values)
                {
                    for (int i = 0; i < b; i++)
                    {
                        for (int j = 0; j < t; j++)
                        {
                            values[i, j] = values[scalar ? 0 : i, 0];
                        }
                    }
                    Tensor rows = Tensors.From(values, dtype).narrow(1, 0, 1);
                    return (scalar ? rows.narrow(0, 0, 1) : rows).expand(b, t);
                }
                Tensor xs = side is "y" ? Tensors.From(x, dtype) : Broadcast(x);
                Tensor? ys = side is "x, y zero" ? null : side is "x" ? Tensors.From(y, dtype) : Broadcast(y);
                Tensor actual = LaneWidth.With(lanes, () => HostSelect.Where(Tensors.Mask(mask), xs, ys, zeros(1, dtype: dtype)));
                bool strided = (side is "y" ? ys! : xs).stride(1) == 0;
                return (strided && SameBits(Expected(x, ys is null ? null : y, mask, dtype), Tensors.ToArray(actual)) && actual.is_contiguous())
                    .Label($"B={b} T={t} lanes={lanes} {dtype} broadcast {side}, scalar {scalar}");
            });

    [Theory]
    [InlineData(16, ScalarType.Float32)]
    [InlineData(8, ScalarType.Float32)]
    [InlineData(1, ScalarType.Float32)]
    [InlineData(16, ScalarType.Float64)]
    public void Upstream_gradients_broadcast_along_T_by_a_sum_equal_torch_where(int lanes, ScalarType dtype)
    {
        (double[,] x, double[,] y, bool[,] mask) = Random(7, 5, 37);
        foreach (bool rowSums in new[] { false, true })
        {
            using var scope = NewDisposeScope();
            Tensor condition = Tensors.Mask(mask);
            Tensor a = Tensors.From(x, dtype).nan_to_num(0, 0, 0).requires_grad_(), b = Tensors.From(y, dtype).nan_to_num(0, 0, 0).requires_grad_();
            Tensor a2 = a.detach().clone().requires_grad_(), b2 = b.detach().clone().requires_grad_();
            Tensor weights = arange(1, 6, dtype: dtype); // distinct row weights: a row read from the wrong place shows
            // sum() hands back an expanded scalar (strides 0, 0), sum(1) an expanded row vector (strides 1, 0)
            Tensor Reduce(Tensor selected) => rowSums ? (selected.sum(1) * weights).sum() : selected.sum() * 3;
            LaneWidth.With(lanes, () =>
            {
                Reduce(HostSelect.Where(condition, a, b, zeros(1, dtype: dtype))).backward();
                return 0;
            });
            Reduce(where(condition, a2, b2)).backward();
            Assert.True(SameBits(Tensors.ToArray(a2.grad!), Tensors.ToArray(a.grad!)), $"a's gradient, lanes {lanes} {dtype}, row sums {rowSums}");
            Assert.True(SameBits(Tensors.ToArray(b2.grad!), Tensors.ToArray(b.grad!)), $"b's gradient, lanes {lanes} {dtype}, row sums {rowSums}");
            Assert.Contains(Tensors.ToArray(a.grad!), g => g != 0);
        }
    }

    [Theory]
    [InlineData(16, ScalarType.Float32)]
    [InlineData(8, ScalarType.Float32)]
    [InlineData(1, ScalarType.Float32)]
    [InlineData(16, ScalarType.Float64)]
    public void Gradients_go_to_the_selected_side_only_and_equal_torch_where(int lanes, ScalarType dtype)
    {
        (double[,] x, double[,] y, bool[,] mask) = Random(5, 6, 53);
        (double[,] upstream, _, _) = Random(6, 6, 53);
        for (int i = 0; i < 6; i++)
        {
            for (int j = 0; j < 53; j++)
            {
                x[i, j] = double.IsFinite(x[i, j]) ? x[i, j] : 1.5; // finite inputs and upstream gradient: the products below stay exact
                y[i, j] = double.IsFinite(y[i, j]) ? y[i, j] : -2.5;
                upstream[i, j] = double.IsFinite(upstream[i, j]) ? upstream[i, j] : 0.75;
            }
        }
        foreach ((bool gradX, bool gradY) in new[] { (true, true), (true, false), (false, true) })
        {
            using var scope = NewDisposeScope();
            Tensor a = Tensors.From(x, dtype, gradX), b = Tensors.From(y, dtype, gradY), g = Tensors.From(upstream, dtype), condition = Tensors.Mask(mask);
            Tensor selected = LaneWidth.With(lanes, () => HostSelect.Where(condition, a, b, zeros(1, dtype: dtype)));
            Assert.Equal(gradX || gradY, selected.requires_grad);
            LaneWidth.With(lanes, () =>
            {
                (selected * g).sum().backward();
                return 0;
            });
            double[] expectedA = Expected(upstream, null, mask, dtype);
            double[] expectedB = Expected(upstream, null, Invert(mask), dtype); // b's gradient: the upstream gradient where the mask is false
            if (gradX)
            {
                Assert.True(SameBits(expectedA, Tensors.ToArray(a.grad!)), $"a's gradient, lanes {lanes} {dtype}");
            }
            else
            {
                Assert.Null(a.grad);
            }
            if (gradY)
            {
                Assert.True(SameBits(expectedB, Tensors.ToArray(b.grad!)), $"b's gradient, lanes {lanes} {dtype}");
            }
            else
            {
                Assert.Null(b.grad);
            }

            // and torch.where's own gradients, on copies
            Tensor a2 = a.detach().clone().requires_grad_(gradX), b2 = b.detach().clone().requires_grad_(gradY);
            (where(condition, a2, b2) * g).sum().backward();
            if (gradX)
            {
                Assert.True(SameBits(Tensors.ToArray(a2.grad!), Tensors.ToArray(a.grad!)), "a's gradient against torch.where");
            }
            if (gradY)
            {
                Assert.True(SameBits(Tensors.ToArray(b2.grad!), Tensors.ToArray(b.grad!)), "b's gradient against torch.where");
            }
        }

        static bool[,] Invert(bool[,] m)
        {
            var inverted = new bool[m.GetLength(0), m.GetLength(1)];
            for (int i = 0; i < m.GetLength(0); i++)
            {
                for (int j = 0; j < m.GetLength(1); j++)
                {
                    inverted[i, j] = !m[i, j];
                }
            }
            return inverted;
        }
    }

    [Fact]
    public void A_gradient_with_a_zero_elsewhere_is_the_upstream_gradient_on_the_selection()
    {
        using var scope = NewDisposeScope();
        (double[,] x, _, bool[,] mask) = Random(7, 3, 41);
        Tensor a = Tensors.From(x, ScalarType.Float32, requiresGrad: true);
        Tensor selected = HostSelect.Where(Tensors.Mask(mask), a, null, zeros(1));
        selected.sum().backward();
        double[] expected = Expected(Ones(3, 41), null, mask, ScalarType.Float32);
        Assert.True(SameBits(expected, Tensors.ToArray(a.grad!)));

        static double[,] Ones(int b, int t)
        {
            var ones = new double[b, t];
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < t; j++)
                {
                    ones[i, j] = 1;
                }
            }
            return ones;
        }
    }

    [Fact]
    public void A_condition_modified_in_place_after_the_forward_pass_fails_the_backward_with_a_catchable_error()
    {
        using var scope = NewDisposeScope();
        (double[,] x, _, bool[,] mask) = Random(8, 2, 20);
        Tensor condition = Tensors.Mask(mask);
        Tensor a = Tensors.From(x, ScalarType.Float32, requiresGrad: true);
        Tensor selected = HostSelect.Where(condition, a, null, zeros(1));
        condition.logical_not_();
        Exception error = Assert.ThrowsAny<Exception>(() => selected.sum().backward());
        Assert.Contains("invalid gradient", error.Message);
    }

    [Fact]
    public void Inputs_stay_usable_and_the_result_is_a_fresh_tensor()
    {
        using var scope = NewDisposeScope();
        (double[,] x, double[,] y, bool[,] mask) = Random(9, 4, 33);
        Tensor condition = Tensors.Mask(mask), a = Tensors.From(x, ScalarType.Float32), b = Tensors.From(y, ScalarType.Float32);
        Tensor selected = HostSelect.Where(condition, a, b, zeros(1));
        selected.fill_(7);
        Assert.True(SameBits(Expected(x, y, mask, ScalarType.Float32), Tensors.ToArray(HostSelect.Where(condition, a, b, zeros(1)))));
        Assert.False(selected.requires_grad);
    }

    [Fact]
    public void Repeated_selects_with_backward_outside_the_loss_leave_no_live_tensors_behind()
    {
        // ClippedSurrogate.Compute called by a user's own loop, with no MixedPolicyLoss step to release the gradients the
        // node's backward handed to autograd: the next select releases them
        (double[,] x, double[,] y, bool[,] mask) = Random(12, 4, 37);
        Tensor a = Tensors.From(x, ScalarType.Float32, requiresGrad: true), b = Tensors.From(y, ScalarType.Float32, requiresGrad: true), condition = Tensors.Mask(mask);
        void Step()
        {
            using var scope = NewDisposeScope();
            a.grad = null;
            b.grad = null;
            HostSelect.Where(condition, a, b).sum().backward();
        }
        for (int i = 0; i < 5; i++)
        {
            Step();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 100; i++)
        {
            Step();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.True(after - before <= 0, $"{after - before} tensors were left alive by 100 selects with backward");
    }

    [Fact]
    public void Selects_with_backward_on_two_threads_at_once_give_each_thread_its_own_gradients()
    {
        // each thread releases only the gradient handles its own backward passes returned: another thread's step must not
        // dispose one before TorchSharp has read it (with one process-wide queue that gave wrong gradient values)
        string? failure = null;
        void Loop(int seed)
        {
            (double[,] x, double[,] y, bool[,] mask) = Random(seed, 16, 257);
            (double[,] upstream, _, _) = Random(seed + 1, 16, 257);
            for (int i = 0; i < 16; i++)
            {
                for (int j = 0; j < 257; j++)
                {
                    upstream[i, j] = double.IsFinite(upstream[i, j]) ? upstream[i, j] : 0.75;
                }
            }
            double[] expectedA = Expected(upstream, null, mask, ScalarType.Float32);
            for (int step = 0; step < 300 && failure is null; step++)
            {
                using var scope = NewDisposeScope();
                Tensor a = Tensors.From(x, ScalarType.Float32, requiresGrad: true), b = Tensors.From(y, ScalarType.Float32, requiresGrad: true);
                (HostSelect.Where(Tensors.Mask(mask), a, b) * Tensors.From(upstream, ScalarType.Float32)).sum().backward();
                if (!SameBits(expectedA, Tensors.ToArray(a.grad!)))
                {
                    failure = $"thread with seed {seed}, step {step}: a's gradient differs";
                }
            }
        }
        var threads = new[] { new Thread(() => Loop(21)), new Thread(() => Loop(31)) };
        foreach (Thread thread in threads)
        {
            thread.Start();
        }
        foreach (Thread thread in threads)
        {
            thread.Join();
        }
        Assert.Null(failure);
    }

    [Fact]
    public void Without_grad_mode_the_result_does_not_require_grad()
    {
        using var scope = NewDisposeScope();
        (double[,] x, _, bool[,] mask) = Random(10, 2, 17);
        Tensor a = Tensors.From(x, ScalarType.Float32, requiresGrad: true);
        using (no_grad())
        {
            Assert.False(HostSelect.Where(Tensors.Mask(mask), a, null, zeros(1)).requires_grad);
        }
    }

    public static TheoryData<string> Unsupported => ["bfloat16", "broadcast condition", "broadcast other", "rank 3", "byte condition", "disabled"];

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void What_the_host_does_not_run_goes_to_torch_where_with_the_same_result(string kind)
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        Tensor a = randn(4, 6), b = randn(4, 6), condition = rand(4, 6).lt(0.5);
        (Tensor c, Tensor x, Tensor? y) = kind switch
        {
            "bfloat16" => (condition, a.to_type(ScalarType.BFloat16), b.to_type(ScalarType.BFloat16)),
            "broadcast condition" => (condition.narrow(1, 0, 1), a, b),
            "broadcast other" => (condition, a, b.narrow(0, 0, 1)),
            "rank 3" => (condition.unsqueeze(0), a.unsqueeze(0), b.unsqueeze(0)),
            "byte condition" => (condition.to_type(ScalarType.Byte), a, b),
            _ => (condition, a, b),
        };
        if (kind == "byte condition")
        {
            Assert.False(HostSelect.Supports(c, x, y)); // torch.where itself refuses a byte condition
            return;
        }
        HostSelect.DisabledOnThisThread = kind == "disabled";
        try
        {
            Assert.False(HostSelect.Supports(c, x, y));
            Tensor actual = HostSelect.Where(c, x, y, zeros(1, dtype: x.dtype));
            Assert.True(actual.eq(where(c, x, y!)).all().item<bool>() && actual.dtype == x.dtype, kind);
        }
        finally
        {
            HostSelect.DisabledOnThisThread = false;
        }
    }
}
