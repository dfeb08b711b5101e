namespace Luffy.Objectives.Tests.Advantages;

public class AdvantageResultTests
{
    [Fact]
    public void Create_copies_the_advantages_and_derives_the_group_statistics()
    {
        var rewards = tensor(new[] { 1.0, 1.0, 0.0, 1.0 });
        var batch = new RewardBatch(rewards, tensor(new long[] { 3, 3, 8, 8 }));
        Tensor mine = tensor(new[] { 0.5, -0.5, 0.25, 0.75 });
        using AdvantageResult result = AdvantageResult.Create(mine, batch);
        mine.fill_(9); // a copy: the caller's tensor stays the caller's
        Assert.Equal(new[] { 0.5, -0.5, 0.25, 0.75 }, Tensors.ToArray(result.Advantages));
        Assert.Equal(new GroupStatistics(2, 1, 0, 1, 0.75, Math.Sqrt(0.25)), result.Statistics);
        Assert.Equal(new[] { 0.5, 0.5, -0.5, 0, 0, 0, 0.75, 0.75 }, Tensors.ToArray(result.ToTokens(tensor(new[,] { { true, true }, { true, false }, { false, false }, { true, true } }))));
    }

    [Fact]
    public void Create_with_token_advantages_masks_them()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 }));
        using AdvantageResult result = AdvantageResult.Create(tensor(new[] { 1.0, -1.0 }), batch, tensor(new[,] { { 1.0, 2.0 }, { 3.0, double.NaN } }));
        Assert.True(result.IsTokenLevel);
        Assert.Equal(new[] { 1.0, 2.0, 3.0, 0.0 }, Tensors.ToArray(result.ToTokens(tensor(new[,] { { true, true }, { true, false } }))));
    }

    [Fact]
    public void Create_checks_the_advantages_against_the_batch()
    {
        var batch = new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 }));
        Assert.Contains("advantages has shape [3] but rewards has shape [2]", Assert.Throws<ArgumentException>(() => AdvantageResult.Create(zeros(3, dtype: ScalarType.Float64), batch)).Message);
        Assert.Contains("tokenAdvantages has dtype Float32", Assert.Throws<ArgumentException>(() => AdvantageResult.Create(zeros(2, dtype: ScalarType.Float64), batch, zeros(2, 5))).Message);
        Assert.Contains("rewards[1] is NaN", Assert.Throws<ArgumentException>(() => AdvantageResult.Create(zeros(2, dtype: ScalarType.Float64), new RewardBatch(tensor(new[] { 1.0, double.NaN }), tensor(new long[] { 0, 0 })))).Message);
    }

    [Fact]
    public void A_disposed_result_throws_object_disposed()
    {
        AdvantageResult result = new GroupNormalizedAdvantage().Compute(new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new long[] { 0, 0 })));
        result.Dispose();
        Assert.Throws<ObjectDisposedException>(() => result.Advantages);
        Assert.Throws<ObjectDisposedException>(() => result.ToTokens(ones(2, 3, dtype: ScalarType.Bool)));
        Assert.Throws<ObjectDisposedException>(() => result.Statistics);
        result.Dispose();
    }
}
