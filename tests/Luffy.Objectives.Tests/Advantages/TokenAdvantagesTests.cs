namespace Luffy.Objectives.Tests.Advantages;

public class TokenAdvantagesTests
{
    [Fact]
    public void Broadcast_copies_each_sequence_value_onto_its_response_tokens()
    {
        Tensor a = tensor(new[] { 2.0f, -1.0f });
        Tensor tokens = TokenAdvantages.Broadcast(a, tensor(new long[,] { { 1, 1, 0 }, { 0, 1, 1 } }));
        Assert.Equal(ScalarType.Float32, tokens.dtype);
        Assert.Equal(new[] { 2.0, 2.0, 0.0, 0.0, -1.0, -1.0 }, Tensors.ToArray(tokens));
    }

    [Fact]
    public void Mismatched_batch_sizes_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => TokenAdvantages.Broadcast(zeros(3), ones(2, 5, dtype: ScalarType.Bool)));
        Assert.Contains("responseMask has shape [2, 5] but advantages has shape [3]", ex.Message);
    }
}
