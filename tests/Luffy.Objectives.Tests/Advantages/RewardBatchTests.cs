namespace Luffy.Objectives.Tests.Advantages;

public class RewardBatchTests
{
    [Fact]
    public void Float_group_ids_are_rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new RewardBatch(tensor(new[] { 1.0 }), tensor(new[] { 0.0 })));
        Assert.Equal("groupIds", ex.ParamName);
        Assert.Contains("integer dtype", ex.Message);
    }

    [Fact]
    public void Integer_rewards_are_rejected() =>
        Assert.Equal("rewards", Assert.Throws<ArgumentException>(() => new RewardBatch(tensor(new long[] { 1 }), tensor(new long[] { 0 }))).ParamName);

    [Fact]
    public void Lengths_must_agree()
    {
        var ex = Assert.Throws<ArgumentException>(() => new RewardBatch(tensor(new[] { 1.0, 2.0, 3.0 }), tensor(new long[] { 0, 0 })));
        Assert.Contains("groupIds has shape [2] but rewards has shape [3]", ex.Message);
    }

    [Fact]
    public void Two_dimensional_rewards_are_rejected() =>
        Assert.Contains("(B)", Assert.Throws<ArgumentException>(() => new RewardBatch(zeros(2, 2), tensor(new long[] { 0, 0 }))).Message);

    [Theory]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void Infinite_rewards_are_rejected(double reward, string shown)
    {
        var ex = Assert.Throws<ArgumentException>(() => new LeaveOneOutAdvantage().Compute(new RewardBatch(tensor(new[] { 0.0, 1.0, reward }), tensor(new long[] { 0, 0, 0 }))));
        Assert.Contains($"rewards[2] is {shown}", ex.Message.Replace("∞", "Infinity"));
    }

    [Fact]
    public void Empty_batch_is_rejected() =>
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => new GroupNormalizedAdvantage().Compute(new RewardBatch(zeros(0), zeros(0, dtype: ScalarType.Int64)))).Message);

    [Fact]
    public void Int32_group_ids_are_accepted()
    {
        using AdvantageResult result = new GroupNormalizedAdvantage(normalizeByStd: false).Compute(new RewardBatch(tensor(new[] { 1.0, 0.0 }), tensor(new[] { 3, 3 })));
        Assert.Equal(new[] { 0.5, -0.5 }, Tensors.ToArray(result.Advantages));
    }

    [Fact]
    public void A_disposed_tensor_of_the_batch_is_named()
    {
        // a RewardBatch holds references; the caller disposed the rewards: libtorch's "Tensor invalid -- empty handle" before
        Tensor rewards = tensor(new[] { 1.0, 0.0 });
        var batch = new RewardBatch(rewards, tensor(new long[] { 0, 0 }));
        rewards.Dispose();
        var ex = Assert.Throws<ObjectDisposedException>(() => new GroupNormalizedAdvantage().Compute(batch));
        Assert.Equal("RewardBatch.Rewards", ex.ObjectName);
    }

    [Fact]
    public void Meta_and_sparse_rewards_are_rejected_with_a_reason()
    {
        Assert.Contains("meta device", Assert.Throws<ArgumentException>(() => new RewardBatch(empty(2, device: new Device(DeviceType.META)), tensor(new long[] { 0, 0 }))).Message);
        Assert.Contains("sparse", Assert.Throws<ArgumentException>(() => new RewardBatch(tensor(new[] { 1.0, 0.0 }).to_sparse(), tensor(new long[] { 0, 0 }))).Message);
    }
}
