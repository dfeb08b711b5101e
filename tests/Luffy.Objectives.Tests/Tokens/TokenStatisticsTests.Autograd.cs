namespace Luffy.Objectives.Tests.Tokens;

/// <summary>
/// The chunked paths behave like autograd on the unchunked one: a catchable error (never a process abort) when an input
/// was modified in place before backward, a refused second backward without retain_graph, and finite entropies and
/// gradients where some logits are −∞ (forbidden tokens).
/// </summary>
public partial class TokenStatisticsTests
{
    private static (Tensor Logits, Tensor Leaf, Tensor Ids) AutogradInputs(ScalarType dtype = ScalarType.Float64)
    {
        (double[] logitValues, long[] idValues) = RandomInputs(3);
        Tensor leaf = tensor(logitValues, [B, T, V], dtype: dtype).requires_grad_();
        return (leaf * 1, leaf, tensor(idValues, [B, T]));
    }

    private static TokenStatisticsResult Chunked(string path, Tensor logits, Tensor ids, Tensor? weight = null) => path switch
    {
        "logits" => TokenStatistics.Compute(logits, ids, chunkSize: 4),
        "hidden" => TokenStatistics.FromHiddenStates(logits, weight!, ids, chunkSize: 4),
        _ => TokenStatistics.Compute(logits, ids),
    };

    private static Tensor Weight() => randn(V, V, dtype: ScalarType.Float64, generator: new Generator(7)).requires_grad_();

    [Theory]
    [InlineData("logits")]
    [InlineData("hidden")]
    [InlineData("plain")]
    public void Token_ids_modified_in_place_before_backward_are_a_catchable_error(string path)
    {
        (Tensor logits, _, Tensor ids) = AutogradInputs();
        using TokenStatisticsResult result = Chunked(path, logits, ids, Weight());
        ids.fill_(0);
        var error = Assert.ThrowsAny<Exception>(() => result.LogProbs.sum().backward());
        Assert.Contains("modified by an inplace operation", error.Message);
    }

    [Theory]
    [InlineData("logits")]
    [InlineData("hidden")] // (the unchunked log_softmax keeps only its output, so there an in-place change is no error)
    public void Logits_modified_in_place_before_backward_are_a_catchable_error(string path)
    {
        (Tensor logits, _, Tensor ids) = AutogradInputs();
        using TokenStatisticsResult result = Chunked(path, logits, ids, Weight());
        using (no_grad())
        {
            logits.div_(2);
        }
        var error = Assert.ThrowsAny<Exception>(() => (result.LogProbs.sum() + result.Entropy.sum()).backward());
        Assert.Contains("modified by an inplace operation", error.Message);
    }

    [Fact]
    public void The_output_projection_modified_in_place_before_backward_is_a_catchable_error()
    {
        (Tensor hidden, _, Tensor ids) = AutogradInputs();
        Tensor weight = Weight();
        using TokenStatisticsResult result = TokenStatistics.FromHiddenStates(hidden, weight, ids, chunkSize: 4);
        using (no_grad())
        {
            weight.mul_(2); // an optimizer step before backward
        }
        var error = Assert.ThrowsAny<Exception>(() => result.Entropy.sum().backward());
        Assert.Contains("modified by an inplace operation", error.Message);
    }

    [Theory]
    [InlineData("logits")]
    [InlineData("hidden")]
    [InlineData("plain")]
    public void A_second_backward_without_a_retained_graph_is_refused_and_adds_nothing(string path)
    {
        (Tensor logits, Tensor leaf, Tensor ids) = AutogradInputs();
        using TokenStatisticsResult result = Chunked(path, logits, ids, Weight());
        Tensor loss = result.LogProbs.sum();
        loss.backward();
        double[] once = leaf.grad!.data<double>().ToArray();
        var error = Assert.ThrowsAny<Exception>(() => loss.backward());
        Assert.Contains("second time", error.Message);
        Assert.Equal(once, leaf.grad!.data<double>().ToArray());
    }

    [Theory]
    [InlineData("logits")]
    [InlineData("hidden")]
    public void Backward_through_a_retained_graph_accumulates_like_the_unchunked_path(string path)
    {
        (Tensor logits, Tensor leaf, Tensor ids) = AutogradInputs();
        Tensor weight = Weight();
        using TokenStatisticsResult plain = path == "logits"
            ? TokenStatistics.Compute(logits, ids)
            : TokenStatistics.Compute(logits.matmul(weight.t()), ids);
        (plain.LogProbs.sum() + plain.Entropy.sum()).backward();
        double[] expected = leaf.grad!.data<double>().Select(g => 2 * g).ToArray();
        leaf.grad = null;

        using TokenStatisticsResult result = Chunked(path, logits, ids, weight);
        Tensor loss = result.LogProbs.sum() + result.Entropy.sum();
        loss.backward(retain_graph: true);
        loss.backward();
        double[] actual = leaf.grad!.data<double>().ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], 1e-12);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void Logits_of_minus_infinity_give_finite_entropies_and_gradients(int chunkSize)
    {
        // forbidden vocabulary entries set to −∞: 0·log 0 = 0 in the entropy, and ∂H/∂z = 0 there
        (double[] values, long[] ids) = RandomInputs(11);
        for (int r = 0; r < B * T; r++)
        {
            for (int k = 0; k < V; k++)
            {
                if ((r + k) % 3 == 0 && k != ids[r])
                {
                    values[r * V + k] = double.NegativeInfinity;
                }
            }
        }
        double[] finite = values.Select(v => double.IsNegativeInfinity(v) ? -1e300 : v).ToArray(); // exp underflows to exactly 0
        var gl = Enumerable.Repeat(1.0, B * T).ToArray();
        (double[] lp, double[] h, double[] grad) = Reference(finite, ids, 1.0, gl, gl);
        foreach (ScalarType dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        {
            Tensor leaf = tensor(values, [B, T, V], dtype: dtype).requires_grad_();
            using TokenStatisticsResult result = TokenStatistics.Compute(leaf, tensor(ids, [B, T]), chunkSize);
            (result.LogProbs.sum() + result.Entropy.sum()).backward();
            double tolerance = dtype == ScalarType.Float64 ? 1e-12 : 1e-5; // O(1) values: float32 rounding of a softmax over 11 entries
            AssertClose.Array(lp, Tensors.ToArray(result.LogProbs), tolerance);
            AssertClose.Array(h, Tensors.ToArray(result.Entropy), tolerance);
            AssertClose.Array(grad, Tensors.ToArray(leaf.grad!), tolerance);
            AssertClose.Array(h, Tensors.ToArray(TokenStatistics.Entropy(leaf.detach())), tolerance);
        }
    }
}
